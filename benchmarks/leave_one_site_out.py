"""Leave-one-site-out validation: the project's accuracy protocol.

Usage:
    python benchmarks/leave_one_site_out.py train [--out RUN] [--sites isbi ...] [--threads N]
    python benchmarks/leave_one_site_out.py score [--out RUN] [--model isbi=FOLDER ...] [--variants ...]
    python benchmarks/leave_one_site_out.py final [--out RUN]     # the shipped model: the recipe on every site

The labelled sites of ../shared/data are MSLesSeg (P14 x3, P18, P39: 1 mm FLAIR + T1, skull-stripped, MNI),
Lesjak (patient26: 1 mm FLAIR + T1, skull-stripped, MNI; 27 more lesion masks without images, used only as lesion
layouts to transplant) and ISBI-2015 (training01, 03, 05: raw 2D FLAIR with skull, 4.4 mm slices, two raters).
`train` trains one model per site on the other two sites with RECIPE (resumable: rerun the same command);
`score` segments every scan of each held-out site with the model that never saw that site, through the full
`lesionwatch segment` command (benchmarks/accuracy.py's runner: one process per scan, wall seconds and peak MB),
FLAIR + T1 where the site has a T1 and FLAIR alone on ISBI, and scores it against each rater (ISBI: both raters,
the mean reported). It prints, per site: Dice, lesion F1, lesion TPR / FPR, lesion detection per size bin (< 10,
10-100, > 100 mm3), and per scan the lesion volumes and their error; the tables land in RUN/loso.md and
RUN/loso.json.

No setting may be chosen on the site it is scored on. Each post-processing variant (`VARIANTS`) is replayed from
the kept probability maps; a variant that uses a rule whose parameters were chosen on the scored site
(`CHOSEN_ON`) is refused for that site, and so is a model whose card lists one of its patients. `--choose`
picks the threshold and minimum lesion volume of each site from the other sites' held-out maps only
(`choose_operating_point`, which refuses a map of the scored site).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from accuracy import Case, KeptCase, run_case
from lesionwatch.io.nifti import read_labels
from lesionwatch.io.volume import LabelVolume
from lesionwatch.lesions.metrics import SIZE_BINS_MM3, SegmentationMetrics, evaluate_segmentation
from lesionwatch.paths import shared_data_dir

SITES = ("mslesseg", "lesjak", "isbi")

RECIPE = ("--mask-tag", "mask,gold,mask1", "--val-fraction", "0", "--iterations", "4200", "--seed", "0",
          "--features", "12,24,48,96", "--per-lesion-fraction", "0.5", "--blob-weight", "0.5")
"""`lesionwatch train` options of the shipped recipe (scripts/lib_recipe.sh), which every fold is trained with;
options after `--` are appended and win (`train ... -- --iterations 1600`). ISBI trains on rater 1 (`mask1`);
rater 2 is scored against as well."""

CANDIDATE = ("--iterations", "1600", "--patch-size", "64", "--lesion-contrast", "1.1,2", "--confluent", "0.25",
             "--thick-slice-mm", "2,6")
"""The options the candidate recipe adds (faint to bright tissue-relative lesions, confluent periventricular
bands, 2-6 mm slices, 64^3 patches); scored on the ISBI fold and not adopted (docs/model.md). `train --candidate`
trains it."""

CHOSEN_ON: dict[str, frozenset[str]] = {
    "grow": frozenset({"mslesseg", "lesjak"}),
    "midline": frozenset({"mslesseg", "lesjak"}),
    "focal_contrast": frozenset({"mslesseg", "lesjak"}),
}
"""Sites whose held-out maps chose each post-processing rule of `lesionwatch segment` and its parameters
(growth over FLAIR-hyperintense white matter, the midline step at 5 mm, the focal-contrast step at 0.5 robust SDs /
100 mm3). A rule can be scored only on a site outside its set."""

VARIANTS: dict[str, tuple[str, ...]] = {
    "network": (),
    "grown": ("grow",),
    "segment_defaults": ("grow", "midline", "focal_contrast"),
}
"""Post-processing variants replayed from each scan's kept maps: the rules each applies after the threshold and
minimum volume."""

OPERATING_POINT = (0.5, 10.0)
"""Threshold and minimum lesion volume (mm3) used without `--choose`: the conventional 0.5 and a 10 mm3 floor
(lesions under 10 mm3 are below what two raters agree on), fixed before any scoring."""

THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6)
MIN_VOLUMES_MM3 = (0.0, 5.0, 10.0, 20.0)


class ProtocolError(ValueError):
    """A step would choose or score a setting on the site it is scored on."""


@dataclass(frozen=True)
class SiteCase:
    """One labelled scan: its site, patient, images and the masks of each rater."""

    name: str
    site: str
    patient: str
    flair: Path
    t1: Path | None
    truths: tuple[Path, ...]


def site_cases(data: Path) -> dict[str, list[SiteCase]]:
    """Every labelled scan of ../shared/data, by site."""
    cases: dict[str, list[SiteCase]] = {s: [] for s in SITES}
    for tp in sorted((data / "mslesseg").glob("P*/T*")):
        p, t = tp.parent.name, tp.name
        flair, t1, mask = (tp / f"{p}_{t}_{s}.nii.gz" for s in ("FLAIR", "T1", "MASK"))
        if flair.is_file() and mask.is_file():
            cases["mslesseg"].append(SiteCase(f"mslesseg_{p}_{t}", "mslesseg", f"mslesseg/{p}", flair,
                                              t1 if t1.is_file() else None, (mask,)))
    for folder in sorted((data / "lesjak_cross").glob("patient*")):
        image, t1_image, gold = (next(iter(folder.glob(g)), None) for g in ("FLAIR*.nii.gz", "T1_*.nii.gz",
                                                                             "GOLD_STANDARD*.nii.gz"))
        if image is not None and gold is not None:
            cases["lesjak"].append(SiteCase(f"lesjak_{folder.name}", "lesjak", f"lesjak_cross/{folder.name}",
                                            image, t1_image, (gold,)))
    for folder in sorted((data / "isbi2015").glob("training*")):
        raw = next(iter(folder.glob("*_flair.nii.gz")), None)
        raters = tuple(sorted(folder.glob("*_mask[12].nii.gz")))
        if raw is not None and raters:
            cases["isbi"].append(SiteCase(f"isbi_{folder.name}", "isbi", f"isbi2015/{folder.name}", raw, None,
                                          raters))
    return cases


def site_of_patient(patient: str) -> str:
    """The site of a model card's patient entry ("mslesseg/P14", "lesjak_cross/patient26", "isbi2015/...")."""
    root = patient.split("/")[0]
    return {"mslesseg": "mslesseg", "lesjak_cross": "lesjak", "isbi2015": "isbi"}.get(root, root)


def training_arguments(data: Path, sites: tuple[str, ...]) -> list[str]:
    """`lesionwatch train` data folders (and lesion layouts) of `sites`."""
    roots = {"mslesseg": [data / "mslesseg"], "lesjak": [data / "lesjak_cross"], "isbi": [data / "isbi2015"]}
    args = [str(p) for s in sites for p in roots[s]]
    if "lesjak" in sites and (data / "lesjak_cross_masks").is_dir():
        args += ["--lesion-masks", str(data / "lesjak_cross_masks")]
    return args


def check_model_unseen(site: str, training: dict[str, object], model: str) -> None:
    """Refuse a model whose card lists a patient of `site` for training or validation."""
    patients = [str(p) for key in ("train_patients", "validation_patients")
                for p in training.get(key, []) or []]  # type: ignore[attr-defined]
    seen = sorted(p for p in patients if site_of_patient(p) == site)
    if seen:
        raise ProtocolError(f"{model}: trained or validated on {', '.join(seen)}, of the site it would score "
                            f"({site}); train a fold without it (`leave_one_site_out.py train`)")


def check_rules_unchosen(site: str, rules: tuple[str, ...], variant: str) -> None:
    """Refuse a post-processing variant whose rules were chosen on `site`."""
    chosen = [r for r in rules if site in CHOSEN_ON.get(r, frozenset())]
    if chosen:
        raise ProtocolError(f"variant {variant!r} on {site}: {', '.join(chosen)} chosen on {site} itself "
                            f"(CHOSEN_ON); score it only on other sites")


@dataclass(frozen=True)
class Score:
    """One scan scored against each of its raters, at one variant and operating point."""

    case: str
    site: str
    per_rater: tuple[SegmentationMetrics, ...]

    def mean(self, key: str) -> float:
        return float(np.mean([getattr(m, key) for m in self.per_rater]))

    def bin_counts(self, name: str) -> tuple[float, float, float, float]:
        """(truth lesions, detected, predicted lesions, false positives) of a size bin, mean over raters."""
        b = [m.by_size[name] for m in self.per_rater]
        return (float(np.mean([x.truth_lesions for x in b])), float(np.mean([x.detected for x in b])),
                float(np.mean([x.predicted_lesions for x in b])), float(np.mean([x.false_positive_lesions for x in b])))


def score_mask(case: SiteCase, pred: LabelVolume, truths: dict[Path, LabelVolume]) -> Score:
    return Score(case.name, case.site, tuple(evaluate_segmentation(pred, truths[t], surface_distance=False)
                                             for t in case.truths))


def choose_operating_point(maps: dict[str, list[tuple[SiteCase, KeptCase]]], scored_site: str,
                           rules: tuple[str, ...], truths: dict[Path, LabelVolume]) -> tuple[float, float]:
    """Threshold and minimum volume with the best mean of Dice and lesion F1 over the held-out maps of the sites
    other than `scored_site` (each site weighs once). Raises ProtocolError when `maps` holds a map of
    `scored_site`, or when no other site has maps to choose on."""
    if maps.get(scored_site):
        raise ProtocolError(f"choosing an operating point for {scored_site} on maps that include {scored_site}'s "
                            f"own scans ({', '.join(c.name for c, _ in maps[scored_site])}): choose on the other "
                            "sites only")
    others = {s: m for s, m in maps.items() if m}
    if not others:
        raise ProtocolError(f"no held-out maps of a site other than {scored_site} to choose an operating point on")
    best, best_value = OPERATING_POINT, -1.0
    for t in THRESHOLDS:
        for v in MIN_VOLUMES_MM3:
            value = float(np.mean([np.mean([(s.mean("dice") + s.mean("lesion_f1")) / 2 for s in
                                            (score_mask(c, replay(k, t, v, rules), truths) for c, k in kept)])
                                   for kept in others.values()]))
            if value > best_value:
                best, best_value = (t, v), value
    return best


def replay(kept: KeptCase, threshold: float, min_volume_mm3: float, rules: tuple[str, ...]) -> LabelVolume:
    """The mask of a kept map at an operating point with the variant's rules (growth, midline, focal contrast)."""
    from dataclasses import replace

    k = kept if "midline" in rules else replace(kept, regions=None)
    return k.mask(threshold, min_volume_mm3, "grow" in rules, focal="focal_contrast" in rules)


@dataclass
class Folds:
    out: Path
    models: dict[str, str] = field(default_factory=dict)

    def model(self, site: str) -> str:
        return self.models.get(site, str(self.out / f"fold-{site}"))


def train_folds(data: Path, folds: Folds, sites: tuple[str, ...], threads: int, extra: list[str]) -> None:
    """Train (or resume) the model of each held-out site on the other sites, one after another."""
    for site in sites:
        fold = Path(folds.model(site))
        if (fold / "model_card.json").is_file():
            print(f"{site}: {fold} already trained")
            continue
        train_sites = tuple(s for s in SITES if s != site)
        run_train(data, train_sites, fold, f"lesionwatch-unet-loso-{site}", folds.out / "cache", threads, extra)


def run_train(data: Path, sites: tuple[str, ...], out: Path, name: str, cache: Path, threads: int,
              extra: list[str]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "lesionwatch", "--no-progress", "train", *training_arguments(data, sites), *RECIPE,
           *extra, "--max-minutes", "600", "--name", name, "--out", str(out), "--cache", str(cache)]
    print(f"training on {', '.join(sites)} into {out} ({threads} threads): log {out}.log", flush=True)
    with open(f"{out}.log", "a") as log:
        subprocess.run(cmd, check=True, stderr=log, env={**os.environ, "OMP_NUM_THREADS": str(threads)})


def format_tables(results: dict[str, dict[str, list[Score]]], points: dict[str, dict[str, tuple[float, float]]],
                  timing: dict[str, tuple[float, float]], models: dict[str, str]) -> str:
    """Markdown: per variant a per-site table, then per-size-bin detection and the per-scan table."""
    lines = []
    for variant, by_site in results.items():
        lines += [f"### {variant} (rules: {', '.join(VARIANTS[variant]) or 'none'})", "",
                  "| held-out site | scans | model | threshold / min mm3 | Dice | lesion F1 | lesion TPR | lesion FPR |"
                  " TPR < 10 | TPR 10-100 | TPR > 100 | FP < 10 | FP 10-100 | FP > 100 |", "|---" * 14 + "|"]
        for site, scores in by_site.items():
            bins = [[s.bin_counts(name) for s in scores] for name, _, _ in SIZE_BINS_MM3]
            tpr = [sum(b[1] for b in x) / max(sum(b[0] for b in x), 1e-9) for x in bins]
            fp = [sum(b[3] for b in x) for x in bins]
            t, v = points[variant][site]
            lines.append(f"| {site} | {len(scores)} | {Path(models[site]).name} | {t:.2f} / {v:.0f} | "
                         f"{np.mean([s.mean('dice') for s in scores]):.3f} | "
                         f"{np.mean([s.mean('lesion_f1') for s in scores]):.3f} | "
                         f"{np.mean([s.mean('lesion_tpr') for s in scores]):.3f} | "
                         f"{np.mean([s.mean('lesion_fpr') for s in scores]):.3f} | "
                         + " | ".join(f"{x:.2f}" for x in tpr) + " | " + " | ".join(f"{x:.1f}" for x in fp) + " |")
        lines += ["", "| scan | Dice | lesion F1 | truth lesions | predicted lesions | truth ml | predicted ml | "
                  "volume error | s | peak MB |", "|---" * 10 + "|"]
        for scores in by_site.values():
            for s in scores:
                tv, pv = s.mean("truth_volume_mm3") / 1000, s.mean("predicted_volume_mm3") / 1000
                wall, peak = timing.get(s.case, (float("nan"), float("nan")))
                lines.append(f"| {s.case} | {s.mean('dice'):.3f} | {s.mean('lesion_f1'):.3f} | "
                             f"{s.mean('truth_lesions'):.1f} | {s.mean('predicted_lesions'):.0f} | {tv:.2f} | "
                             f"{pv:.2f} | {(pv - tv) / tv * 100 if tv else float('nan'):+.0f}% | {wall:.0f} | "
                             f"{peak:.0f} |")
        lines.append("")
    return "\n".join(lines)


def score_folds(data: Path, folds: Folds, sites: tuple[str, ...], variants: tuple[str, ...], choose: bool,
                rescore: bool, extra: list[str]) -> str:
    """Segment each held-out site with its fold (unless `rescore`), replay the variants, write and return tables."""
    from lesionwatch.models.card import read_card, resolve_model_dir

    cases = site_cases(data)
    timing_file = folds.out / "timing.json"
    timing: dict[str, tuple[float, float]] = (
        {k: (v[0], v[1]) for k, v in json.loads(timing_file.read_text()).items()}
        if timing_file.is_file() else {})
    for site in sites:  # every refusal comes before any work
        check_model_unseen(site, read_card(resolve_model_dir(folds.model(site))).training, folds.model(site))
    folds.out.mkdir(parents=True, exist_ok=True)
    kept: dict[str, list[tuple[SiteCase, KeptCase]]] = {}
    for site in sites:
        for case in cases[site]:
            folder = folds.out / "segment" / case.name
            if not rescore:
                seg = ["--method", "model", "--model", folds.model(site), "--threshold", "0.5",
                       "--min-lesion-volume-mm3", "0", "--no-report", *extra]
                timing[case.name] = run_case(Case(case.name, case.patient, case.flair, case.t1, case.truths[0]),
                                             folder, seg)
                timing_file.write_text(json.dumps(timing, indent=1))
                print(f"segmented {case.name} ({site}): {timing[case.name][0]:.0f} s", flush=True)
            kept.setdefault(site, []).append((case, KeptCase.read(folder, {"midline_mm": 5.0,
                                                                           "min_focal_contrast": 0.5,
                                                                           "focal_contrast_max_volume_mm3": 100.0})))
    truths = {t: read_labels(t) for s in sites for c in cases[s] for t in c.truths}
    results: dict[str, dict[str, list[Score]]] = {}
    points: dict[str, dict[str, tuple[float, float]]] = {}
    for variant in variants:
        rules = VARIANTS[variant]
        for site in sites:
            try:
                check_rules_unchosen(site, rules, variant)
            except ProtocolError as exc:
                print(f"skipped: {exc}")
                continue
            point = OPERATING_POINT
            if choose:
                point = choose_operating_point({s: m for s, m in kept.items() if s != site}, site, rules, truths)
            points.setdefault(variant, {})[site] = point
            results.setdefault(variant, {})[site] = [score_mask(c, replay(k, *point, rules), truths)
                                                     for c, k in kept[site]]
    text = format_tables(results, points, timing, {s: folds.model(s) for s in sites})
    (folds.out / "loso.md").write_text(text)
    (folds.out / "loso.json").write_text(json.dumps(
        {variant: {site: {"operating_point": points[variant][site], "model": folds.model(site),
                          "scans": [{"case": s.case, "per_rater": [m.as_dict() for m in s.per_rater],
                                     "seconds": timing.get(s.case, (None, None))[0],
                                     "peak_mb": timing.get(s.case, (None, None))[1]} for s in scores]}
                   for site, scores in by_site.items()} for variant, by_site in results.items()},
        indent=1, default=str))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["train", "score", "final"])
    parser.add_argument("--out", type=Path, default=Path("models-trained/loso"))
    parser.add_argument("--sites", nargs="+", choices=SITES, default=list(SITES), help="Held-out sites.")
    parser.add_argument("--model", action="append", default=[], metavar="SITE=FOLDER",
                        help="Score SITE with this model instead of the fold's own (its card must not list SITE).")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--choose", action="store_true", help="Choose each site's threshold / minimum volume on "
                        "the other sites' held-out maps (default: the fixed OPERATING_POINT).")
    parser.add_argument("--rescore", action="store_true", help="Replay the kept maps under --out; segment nothing.")
    parser.add_argument("--threads", type=int, default=2, help="Threads of each training run.")
    parser.add_argument("--candidate", action="store_true", help="Train the candidate recipe (RECIPE + CANDIDATE).")
    parser.add_argument("extra", nargs="*", help="Extra options for `lesionwatch train` / `segment` (after --).")
    args = parser.parse_args(argv)
    data = shared_data_dir()
    if data is None:
        print("../shared/data is absent: nothing to validate")
        return 0
    models = {}
    for item in args.model:
        site, _, folder = item.partition("=")
        if site not in SITES or not folder:
            parser.error(f"--model {item!r}: expected SITE=FOLDER with SITE one of {', '.join(SITES)}")
        models[site] = folder
    folds = Folds(args.out, models)
    try:
        if args.step == "train":
            train_folds(data, folds, tuple(args.sites), args.threads,
                        [*CANDIDATE, *args.extra] if args.candidate else args.extra)
        elif args.step == "final":
            run_train(data, SITES, args.out / "final", "lesionwatch-unet-default", args.out / "cache", args.threads,
                      args.extra)
        else:
            print(score_folds(data, folds, tuple(args.sites), tuple(args.variants), args.choose, args.rescore,
                              args.extra))
    except ProtocolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
