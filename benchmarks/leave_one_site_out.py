"""Leave-one-site-out validation: the project's accuracy protocol, and the model card's validation table.

Usage:
    python benchmarks/leave_one_site_out.py train [--out RUN] [--sites isbi ...] [--threads N] [--seeds 0 1]
    python benchmarks/leave_one_site_out.py score [--out RUN] [--sites ...] [--model isbi=FOLDER ...] [--choose]
    python benchmarks/leave_one_site_out.py final [--out RUN]     # the shipped model: the recipe on every site
    python benchmarks/leave_one_site_out.py card [--out RUN] [--into FOLDER]

The labelled sites of ../shared/data are MSLesSeg (P14 x3, P18, P39: 1 mm FLAIR + T1, skull-stripped, MNI),
Lesjak (patient26: 1 mm FLAIR + T1, skull-stripped, MNI; 27 more lesion masks without images, used only as lesion
layouts to transplant) and ISBI-2015 (training01, 03, 05: raw 2D FLAIR with skull, 4.4 mm slices, two raters).
`train` trains one model per site on the other two sites with RECIPE, one network per seed of SEEDS averaged into
that model (resumable: rerun the same command; a trained seed is kept);
`score` segments every scan of each held-out site with the model that never saw that site, through the full
`lesionwatch segment` command (benchmarks/accuracy.py's runner: one process per scan, wall seconds and peak MB),
FLAIR + T1 where the site has a T1 and FLAIR alone on ISBI, and scores it against each rater (ISBI: both raters,
the mean reported). Each scored site replaces its entry in RUN/loso.json or `--results FILE` (so sites can be
scored one at a time); RUN/loso.md is rendered from the whole file: per site Dice, lesion F1, lesion TPR / FPR,
lesion detection per size bin (< 10, 10-100, > 100 mm3), and per scan the lesion volumes and their error. `card`
writes the table of that file into the card of the model trained on every site (RUN/final), after checking that
every site was scored (`--allow-missing` lists the others as not scored), that every fold was trained with that
model's recipe, and that all sites used one fixed operating point, which becomes the card's threshold and minimum
lesion volume.

No setting may be chosen on the site it is scored on: a model whose card lists one of the scored site's patients is
refused, and `--choose` picks the threshold and minimum lesion volume of each site from the other sites' held-out
maps only (`choose_operating_point`, which refuses a map of the scored site).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from accuracy import Case, KeptCase, run_case
from lesionwatch.io.atomic import write_json_atomically
from lesionwatch.io.nifti import read_labels
from lesionwatch.io.volume import LabelVolume
from lesionwatch.lesions.metrics import SIZE_BINS_MM3, SegmentationMetrics, evaluate_segmentation
from lesionwatch.models.card import CARD_NAME, ModelCard, read_card, resolve_model_dir
from lesionwatch.paths import shared_data_dir

SITES = ("mslesseg", "lesjak", "isbi")

RECIPE = ("--mask-tag", "mask,gold,mask1", "--val-fraction", "0", "--iterations", "4200",
          "--features", "12,24,48,96", "--per-lesion-fraction", "0.5", "--blob-weight", "0.5")
"""`lesionwatch train` options of the shipped recipe, which every fold and the shipped model are trained with;
options after `--` are appended and win (`train ... -- --iterations 1600`). ISBI trains on rater 1 (`mask1`);
rater 2 is scored against as well."""

SEEDS = (0,)
"""Training seeds of the recipe: one network per seed (`--seed`); with several, each fold and the shipped model is
their average (`lesionwatch models ensemble`). `--seeds 1 2` trains such a variant."""

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


@dataclass(frozen=True)
class Score:
    """One scan scored against each of its raters at one operating point, with its wall seconds and peak MB."""

    case: str
    site: str
    per_rater: tuple[SegmentationMetrics, ...]
    seconds: float = float("nan")
    peak_mb: float = float("nan")

    def mean(self, key: str) -> float:
        return float(np.mean([getattr(m, key) for m in self.per_rater]))

    def bin_counts(self, name: str) -> tuple[float, float, float, float]:
        """(truth lesions, detected, predicted lesions, false positives) of a size bin, mean over raters."""
        b = [m.by_size[name] for m in self.per_rater]
        return (float(np.mean([x.truth_lesions for x in b])), float(np.mean([x.detected for x in b])),
                float(np.mean([x.predicted_lesions for x in b])), float(np.mean([x.false_positive_lesions for x in b])))

    def as_dict(self) -> dict[str, object]:
        return {"case": self.case, "per_rater": [m.as_dict() for m in self.per_rater], "seconds": self.seconds,
                "peak_mb": self.peak_mb}

    @classmethod
    def from_dict(cls, site: str, data: dict[str, Any]) -> Score:
        return cls(str(data["case"]), site, tuple(SegmentationMetrics.from_dict(m) for m in data["per_rater"]),
                   float(data.get("seconds") or "nan"), float(data.get("peak_mb") or "nan"))


def score_mask(case: SiteCase, pred: LabelVolume, truths: dict[Path, LabelVolume]) -> Score:
    return Score(case.name, case.site, tuple(evaluate_segmentation(pred, truths[t], surface_distance=False)
                                             for t in case.truths))


def choose_operating_point(maps: dict[str, list[tuple[SiteCase, KeptCase]]], scored_site: str,
                           truths: dict[Path, LabelVolume]) -> tuple[float, float]:
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
                                            (score_mask(c, k.mask(t, v), truths) for c, k in kept)])
                                   for kept in others.values()]))
            if value > best_value:
                best, best_value = (t, v), value
    return best


@dataclass
class Folds:
    """A validation run: its folder (fold models, kept maps, tables), the results file and any models given."""

    out: Path
    models: dict[str, str] = field(default_factory=dict)
    results: Path | None = None

    @property
    def results_file(self) -> Path:
        """The scored sites (`--results`; RUN/loso.json by default): kept apart from RUN, it survives the run's
        folder, so sites scored at different times add up."""
        return self.results or self.out / "loso.json"

    def model(self, site: str) -> str:
        return self.models.get(site, str(self.out / f"fold-{site}"))


def train_folds(data: Path, folds: Folds, sites: tuple[str, ...], threads: int, extra: list[str],
                seeds: tuple[int, ...] = SEEDS) -> None:
    """Train (or resume) the model of each held-out site on the other sites, one after another."""
    for site in sites:
        fold = Path(folds.model(site))
        if (fold / CARD_NAME).is_file():
            print(f"{site}: {fold} already trained")
            continue
        train_sites = tuple(s for s in SITES if s != site)
        train_model(data, train_sites, fold, f"lesionwatch-unet-loso-{site}", folds.out / "cache", threads, extra,
                    seeds)


def train_model(data: Path, sites: tuple[str, ...], out: Path, name: str, cache: Path, threads: int,
                extra: list[str], seeds: tuple[int, ...] = SEEDS) -> None:
    """The recipe on `sites` into `out`: one network per seed (OUT-seedK, each resumable and kept once trained),
    averaged into `out` when there are several."""
    if len(seeds) == 1:
        run_train(data, sites, out, name, cache, threads, ["--seed", str(seeds[0]), *extra])
        return
    members = [out.parent / f"{out.name}-seed{seed}" for seed in seeds]
    for seed, member in zip(seeds, members, strict=True):
        if (member / CARD_NAME).is_file():
            print(f"{member} already trained")
        else:
            run_train(data, sites, member, f"{name}-seed{seed}", cache, threads, ["--seed", str(seed), *extra])
    threshold, min_volume = OPERATING_POINT
    subprocess.run([sys.executable, "-m", "lesionwatch", "--no-progress", "models", "ensemble",
                    *(str(m) for m in members), "--out", str(out), "--name", name, "--threshold", str(threshold),
                    "--min-lesion-volume-mm3", str(min_volume)], check=True)


def run_train(data: Path, sites: tuple[str, ...], out: Path, name: str, cache: Path, threads: int,
              extra: list[str]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "lesionwatch", "--no-progress", "train", *training_arguments(data, sites), *RECIPE,
           *extra, "--max-minutes", "600", "--name", name, "--out", str(out), "--cache", str(cache)]
    print(f"training on {', '.join(sites)} into {out} ({threads} threads): log {out}.log", flush=True)
    with open(f"{out}.log", "a") as log:
        subprocess.run(cmd, check=True, stderr=log, env={**os.environ, "OMP_NUM_THREADS": str(threads)})


def volume_error(score: Score) -> float:
    """(predicted - truth) / truth lesion volume, mean over raters; NaN without truth lesions."""
    truth = score.mean("truth_volume_mm3")
    return (score.mean("predicted_volume_mm3") - truth) / truth if truth else float("nan")


def _rounded(value: float, digits: int) -> float | None:
    """`value` rounded, None where it is unknown (NaN: no timing, no truth volume), as JSON can hold it."""
    return None if math.isnan(value) else round(value, digits)


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def site_summary(scores: list[Score]) -> dict[str, Any]:
    """A site's row of the validation table and its scans (what loso.md prints and the model card keeps)."""
    bins = {name: [s.bin_counts(name) for s in scores] for name, _, _ in SIZE_BINS_MM3}
    return {
        "scans": len(scores),
        **{key: round(float(np.mean([s.mean(key) for s in scores])), 3)
           for key in ("dice", "lesion_f1", "lesion_tpr", "lesion_fpr")},
        "lesion_tpr_by_size": {name: round(sum(b[1] for b in x) / max(sum(b[0] for b in x), 1e-9), 3)
                               for name, x in bins.items()},
        "false_positive_lesions_by_size": {name: round(sum(b[3] for b in x), 1) for name, x in bins.items()},
        "per_scan": [{"case": s.case, "dice": round(s.mean("dice"), 3), "lesion_f1": round(s.mean("lesion_f1"), 3),
                      "truth_lesions": round(s.mean("truth_lesions"), 1),
                      "predicted_lesions": round(s.mean("predicted_lesions"), 1),
                      "truth_ml": round(s.mean("truth_volume_mm3") / 1000, 2),
                      "predicted_ml": round(s.mean("predicted_volume_mm3") / 1000, 2),
                      "volume_error": _rounded(volume_error(s), 3), "seconds": _rounded(s.seconds, 1),
                      "peak_mb": _rounded(s.peak_mb, 0)} for s in scores],
    }


def read_results(path: Path) -> dict[str, dict[str, Any]]:
    """The sites of a loso.json (empty when there is none yet)."""
    return dict(json.loads(path.read_text())["sites"]) if path.is_file() else {}


def scores_of(entry: dict[str, Any], site: str) -> list[Score]:
    return [Score.from_dict(site, scan) for scan in entry["scans"]]


def format_tables(sites: dict[str, dict[str, Any]]) -> str:
    """Markdown: a per-site table with per-size-bin detection, then the per-scan table."""
    lines = ["| held-out site | scans | model | threshold / min mm3 | Dice | lesion F1 | lesion TPR | lesion FPR |"
             " TPR < 10 | TPR 10-100 | TPR > 100 | FP < 10 | FP 10-100 | FP > 100 |", "|---" * 14 + "|"]
    summaries = {site: site_summary(scores_of(entry, site)) for site, entry in sites.items()}
    for site, row in summaries.items():
        t, v = sites[site]["operating_point"]
        lines.append(f"| {site} | {row['scans']} | {sites[site]['model_name']} | {t:.2f} / {v:.0f} | "
                     f"{row['dice']:.3f} | {row['lesion_f1']:.3f} | {row['lesion_tpr']:.3f} | "
                     f"{row['lesion_fpr']:.3f} | " + " | ".join(f"{x:.2f}" for x in row["lesion_tpr_by_size"].values())
                     + " | " + " | ".join(f"{x:.1f}" for x in row["false_positive_lesions_by_size"].values()) + " |")
    lines += ["", "| scan | Dice | lesion F1 | truth lesions | predicted lesions | truth ml | predicted ml | "
              "volume error | s | peak MB |", "|---" * 10 + "|"]
    for row in summaries.values():
        for s in row["per_scan"]:
            lines.append(f"| {s['case']} | {s['dice']:.3f} | {s['lesion_f1']:.3f} | {s['truth_lesions']:.1f} | "
                         f"{s['predicted_lesions']:.0f} | {s['truth_ml']:.2f} | {s['predicted_ml']:.2f} | "
                         f"{'-' if s['volume_error'] is None else format(s['volume_error'] * 100, '+.0f')}% | "
                         f"{_cell(s['seconds'], '.0f')} | {_cell(s['peak_mb'], '.0f')} |")
    return "\n".join(lines) + "\n"


def site_entry(site: str, model: str, card: ModelCard, point: tuple[float, float], scores: list[Score]
               ) -> dict[str, Any]:
    """A scored site as loso.json keeps it: the fold model (path, name, sha256, patients, recipe), the inputs, the
    operating point and every scan's scores."""
    return {"model": model, "model_name": card.name, "model_sha256": card.weights_sha256,
            "train_patients": card.training.get("train_patients", []), "recipe": recipe_record(card.training),
            "inputs": "flair" if site == "isbi" else "flair, t1", "operating_point": list(point),
            "scans": [s.as_dict() for s in scores]}


def score_folds(data: Path, folds: Folds, sites: tuple[str, ...], choose: bool, rescore: bool,
                extra: list[str]) -> str:
    """Segment each held-out site with its fold (unless `rescore`), score it, merge it into RUN/loso.json and
    return the tables of the whole file."""
    cases = site_cases(data)
    cards = {site: read_card(resolve_model_dir(folds.model(site))) for site in sites}
    for site in sites:  # every refusal comes before any work
        check_model_unseen(site, cards[site].training, folds.model(site))
    folds.out.mkdir(parents=True, exist_ok=True)
    timing_file = folds.out / "timing.json"
    timing: dict[str, tuple[float, float]] = (
        {k: (v[0], v[1]) for k, v in json.loads(timing_file.read_text()).items()}
        if timing_file.is_file() else {})
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
            kept.setdefault(site, []).append((case, KeptCase.read(folder)))
    truths = {t: read_labels(t) for s in sites for c in cases[s] for t in c.truths}
    results_file = folds.results_file
    results = read_results(results_file)
    for site in sites:
        point = OPERATING_POINT
        if choose:
            point = choose_operating_point({s: m for s, m in kept.items() if s != site}, site, truths)
        scores = [replace(score_mask(c, k.mask(*point), truths), seconds=seconds, peak_mb=peak)
                  for c, k in kept[site] for seconds, peak in [timing.get(c.name, (math.nan, math.nan))]]
        results[site] = site_entry(site, folds.model(site), cards[site], point, scores)
    results = {site: results[site] for site in SITES if site in results}
    write_json_atomically(results_file, {"protocol": PROTOCOL, "sites": results})
    text = format_tables(results)
    (folds.out / "loso.md").write_text(text)
    return text


PROTOCOL = ("leave-one-site-out over MSLesSeg, Lesjak and ISBI-2015 (benchmarks/leave_one_site_out.py): each "
            "site's scans segmented by the recipe trained on the other two sites, with the full `lesionwatch "
            "segment` (FLAIR + T1 where the site has a T1, FLAIR alone on ISBI), scored against each rater (ISBI: "
            "the mean of two); lesions 26-connected")


def comparable_recipe(recipe: dict[str, Any] | None) -> dict[str, Any]:
    """A card's training recipe as JSON holds it, without what may differ between runs of one recipe (the time
    limit), with every option the record lacks at its default (a record written before the option existed ran
    what is now its default)."""
    from lesionwatch.training.config import TrainingConfig

    defaults = json.loads(json.dumps(asdict(TrainingConfig())))
    recipe = dict(recipe or {})
    augmentation = {k: v for k, v in recipe.get("augmentation", {}).items() if RETIRED_OPTIONS.get(k, object()) != v}
    merged = {**defaults, **recipe, "augmentation": {**defaults["augmentation"], **augmentation}}
    return {k: v for k, v in merged.items() if k != "max_minutes"}


RETIRED_OPTIONS = {"p_tissue_contrast": 0.0, "match_small_lesions": False}
"""Augmentation options that no longer exist, at the value that turned them off: a record holding one of them at
that value ran what the recipe runs now; at any other value it ran something else, and stays unequal."""


def recipe_record(training: dict[str, Any]) -> Any:
    """The recipe a card's training record ran: its own, or for an ensemble the list of its members' recipes."""
    if "members" in training:
        return [member.get("recipe") for member in training["members"]]
    return training.get("recipe")


def comparable_record(record: Any) -> Any:
    """`comparable_recipe` of a recipe record, member by member for an ensemble's list."""
    if isinstance(record, list):
        return [comparable_recipe(recipe) for recipe in record]
    return comparable_recipe(record)


def write_card(folds: Folds, model: Path, allow_missing: bool = False) -> dict[str, Any]:
    """Put the validation table of the results file into the card of `model` (the recipe trained on every site):
    its threshold and minimum lesion volume become the table's fixed operating point. Returns the metrics written.
    With `allow_missing` a site not scored yet is listed in the card as such (`not_scored`) instead of refused.

    Raises:
        ProtocolError: a site was not scored (unless `allow_missing`; none at all is always refused), a fold's
            recipe is not the model's, the sites used different operating points, or the model did not train on
            every site.
    """
    results = read_results(folds.results_file)
    missing = [s for s in SITES if s not in results]
    if missing and (not allow_missing or not results):
        raise ProtocolError(f"{folds.results_file}: {', '.join(missing)} not scored; the card needs every "
                            "site (`score --sites " + " ".join(missing) + "`)")
    card = read_card(model)
    trained = {site_of_patient(p) for p in card.training.get("train_patients", [])}
    if not set(SITES) <= trained:
        raise ProtocolError(f"{model}: trained on {', '.join(sorted(trained))}, not on every site; the card's "
                            "table describes the recipe trained on all of them (`final`)")
    for site, entry in results.items():
        if comparable_record(entry.get("recipe")) != comparable_record(recipe_record(card.training)):
            raise ProtocolError(f"the {site} fold ({entry['model']}) was trained with another recipe than {model}; "
                                "the table would not describe this model's recipe")
    points = {tuple(entry["operating_point"]) for entry in results.values()}
    if len(points) != 1:
        raise ProtocolError(f"the sites were scored at different operating points ({sorted(points)}); the card "
                            "keeps one fixed threshold and minimum volume (score without --choose)")
    threshold, min_volume = points.pop()
    metrics = {"protocol": PROTOCOL, "operating_point": {"threshold": threshold, "min_lesion_volume_mm3": min_volume},
               "leave_one_site_out": {
                   site: {"trained_on": sorted({site_of_patient(p) for p in entry["train_patients"]}),
                          "fold_sha256": entry["model_sha256"], "inputs": entry["inputs"],
                          **site_summary(scores_of(entry, site))} for site, entry in results.items()},
               **({"not_scored": missing} if missing else {})}
    updated = replace(card, threshold=float(threshold), min_lesion_volume_mm3=float(min_volume),
                      metrics={**{k: v for k, v in card.metrics.items() if k != "not_scored"}, **metrics})
    write_json_atomically(Path(model) / CARD_NAME, updated.as_dict())
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["train", "score", "final", "card"])
    parser.add_argument("--out", type=Path, default=Path("models-trained/loso"))
    parser.add_argument("--sites", nargs="+", choices=SITES, default=list(SITES), help="Held-out sites.")
    parser.add_argument("--model", action="append", default=[], metavar="SITE=FOLDER",
                        help="Score SITE with this model instead of the fold's own (its card must not list SITE).")
    parser.add_argument("--into", type=Path, help="card: the model folder whose card gets the table "
                        "(default: RUN/final).")
    parser.add_argument("--results", type=Path, help="The scored sites' file that score adds to and card reads "
                        "(default: RUN/loso.json).")
    parser.add_argument("--allow-missing", action="store_true", help="card: list sites not scored yet as such.")
    parser.add_argument("--choose", action="store_true", help="Choose each site's threshold / minimum volume on "
                        "the other sites' held-out maps (default: the fixed OPERATING_POINT).")
    parser.add_argument("--rescore", action="store_true", help="Replay the kept maps under --out; segment nothing.")
    parser.add_argument("--threads", type=int, default=2, help="Threads of each training run.")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="train / final: the training "
                        "seeds, one network each, averaged into the model (default: the recipe's SEEDS).")
    parser.epilog = "Options after -- go to every `lesionwatch train` / `segment` call (`train -- --iterations 1600`)."
    argv = sys.argv[1:] if argv is None else argv
    # split by hand: argparse cannot take options meant for another program after a positional step
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.extra = argv[cut + 1:]
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
    folds = Folds(args.out, models, args.results)
    try:
        if args.step == "train":
            train_folds(data, folds, tuple(args.sites), args.threads, args.extra, tuple(args.seeds))
        elif args.step == "final":
            train_model(data, SITES, args.out / "final", "lesionwatch-unet-default", args.out / "cache",
                        args.threads, args.extra, tuple(args.seeds))
        elif args.step == "card":
            model = args.into or args.out / "final"
            write_card(folds, model, args.allow_missing)
            print(f"{model / 'model_card.json'}: the leave-one-site-out table of {folds.results_file} written")
        else:
            print(score_folds(data, folds, tuple(args.sites), args.choose, args.rescore, args.extra))
    except ProtocolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
