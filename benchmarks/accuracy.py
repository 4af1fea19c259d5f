"""Run the full `lesionwatch segment` command on every labelled case in ../shared/data and score it.

Usage:
    python benchmarks/accuracy.py [--out benchmarks/results/accuracy] [--cases P18_T1 ...] [-- EXTRA SEGMENT ARGS]

Each case runs as its own `lesionwatch segment` process (so wall time and peak memory are per case), then the
evaluation harness (`lesionwatch.lesions.metrics`) compares its mask with the expert mask. Writes a per-case
table plus means as Markdown and JSON, and prints the Markdown. Asserts nothing.

Split: the classical baseline has no training, so every case is held out. For a trained model, pass one
`--model` per cross-validation fold: each case is segmented by the first model whose card lists its patient
neither for training nor for validation (its role is then "test"), so every figure is on an unseen patient.
`--sweep` re-thresholds the saved probability maps of the unseen cases over a grid of thresholds and minimum lesion
volumes (an operating point chosen there is optimistic: it saw the cases it scores); the JSON keeps every case at
every point, and the Markdown lists the cases at the best one. `--rescore --sweep` re-thresholds an earlier run's
saved maps under --out without segmenting again.

`--slice-thickness MM` first re-acquires every input of a case (FLAIR and T1) as a 2D axial scan with MM-thick
slices (the slice profile's blur along the head's inferior-superior axis, then every MM mm kept; in-plane spacing
unchanged), as clinical 2D FLAIR is, and segments those; the expert mask stays on its 1 mm grid and the native-grid
mask is resampled onto it to be scored. The degraded inputs are written under OUT/inputs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import run_timed, segment_command
from lesionwatch.io.nifti import read_labels
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.lesions.metrics import evaluate_segmentation, mean_metrics
from lesionwatch.paths import shared_data_dir
from lesionwatch.workflows.layout import MASK_NAME


@dataclass(frozen=True)
class Case:
    name: str
    patient: str
    flair: Path
    t1: Path | None
    truth: Path


def labelled_cases(data: Path) -> list[Case]:
    """Every case in ../shared/data with images and an expert lesion mask."""
    cases = []
    for tp_dir in sorted((data / "mslesseg").glob("P*/T*")):
        p, t = tp_dir.parent.name, tp_dir.name
        flair, t1, mask = (tp_dir / f"{p}_{t}_{s}.nii.gz" for s in ("FLAIR", "T1", "MASK"))
        if flair.is_file() and mask.is_file():
            cases.append(Case(f"mslesseg_{p}_{t}", f"mslesseg/{p}", flair, t1 if t1.is_file() else None, mask))
    for folder in sorted((data / "lesjak_cross").glob("patient*")):
        image, t1_image, gold = (next(iter(folder.glob(pattern)), None)
                                 for pattern in ("FLAIR*.nii.gz", "T1_*.nii.gz", "GOLD_STANDARD*.nii.gz"))
        if image is not None and gold is not None:
            cases.append(Case(f"lesjak_{folder.name}", f"lesjak_cross/{folder.name}", image, t1_image, gold))
    return cases


def thick_slices(image: Path, out: Path, thickness_mm: float) -> Path:
    """Write `image` re-acquired as axial slices `thickness_mm` thick to `out`; return `out`.

    The voxel axis nearest the world's inferior-superior axis is re-acquired by
    `preprocessing.resampling.acquire_slices` (slice-profile blur, then a slice every `thickness_mm`, the first
    centre half a slice in); the affine keeps the orientation and says the new spacing.
    """
    from lesionwatch.io.nifti import read_volume, write_nifti
    from lesionwatch.preprocessing.resampling import acquire_slices

    vol = read_volume(image)
    axis = int(np.argmax(np.abs(vol.affine[2, :3]) / np.sqrt((vol.affine[:3, :3] ** 2).sum(axis=0))))
    spacing = vol.spacing_mm[axis]
    if thickness_mm <= spacing:
        raise ValueError(f"{image}: slices of {thickness_mm} mm are not thicker than its {spacing:.2f} mm")
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_nifti(acquire_slices(vol, axis, thickness_mm), out)


def run_case(case: Case, out: Path, extra: list[str], use_t1: bool = True,
             slice_thickness_mm: float | None = None, inputs: Path | None = None) -> tuple[float, float]:
    """Run `lesionwatch segment` in a child process; return (wall seconds, peak MB).

    With `slice_thickness_mm`, the inputs are first re-acquired as thick axial slices into `inputs`.
    """
    flair, t1 = case.flair, case.t1 if use_t1 else None
    if slice_thickness_mm is not None and inputs is not None:
        flair = thick_slices(flair, inputs / case.name / "flair.nii.gz", slice_thickness_mm)
        t1 = None if t1 is None else thick_slices(t1, inputs / case.name / "t1.nii.gz", slice_thickness_mm)
    return run_timed(segment_command(flair, t1, out, extra), case.name)


def split_roles(model: str) -> dict[str, str]:
    """Patient -> its role for the model (train, validation), from the model card; others are unseen."""
    from lesionwatch.models.card import read_card, resolve_model_dir

    training = read_card(resolve_model_dir(model)).training
    roles = {p: "train" for p in training.get("train_patients", [])}
    roles.update({p: "validation" for p in training.get("validation_patients", [])})
    return roles


def choose_model(patient: str, models: list[str]) -> tuple[str, str]:
    """(model, role): the first model that never saw `patient`, else the first model with its role."""
    for model in models:
        if patient not in split_roles(model):
            return model, "test" if len(models) == 1 else f"test ({Path(model).name})"
    return models[0], split_roles(models[0])[patient]


@dataclass(frozen=True)
class KeptCase:
    """One case's saved `lesionwatch segment` probability, to redo segment's binarisation at any operating point."""

    probability: Volume

    @classmethod
    def read(cls, folder: Path) -> KeptCase:
        from lesionwatch.io.nifti import read_volume
        from lesionwatch.workflows.layout import PROBABILITY_NAME

        return cls(read_volume(folder / PROBABILITY_NAME))

    def mask(self, threshold: float, min_volume_mm3: float) -> LabelVolume:
        """The lesion mask segment writes at this operating point (`inference.postprocessing.lesion_mask`)."""
        from lesionwatch.inference.postprocessing import PostprocessingConfig, lesion_mask

        return lesion_mask(self.probability, PostprocessingConfig(threshold, min_volume_mm3))


def sweep(rows: list[dict[str, object]], cases: dict[str, Case], out: Path,
          thresholds: tuple[float, ...] = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
          min_volumes: tuple[float, ...] = (0.0, 5.0, 10.0, 20.0)) -> tuple[str, list[dict[str, object]]]:
    """Dice and lesion F1 of each unseen case per (threshold, minimum lesion volume), from its saved map.

    Returns the Markdown (means per operating point, then the cases at the best one: highest mean of Dice and F1)
    and one record per case and operating point, so per-case figures at any point can be read back from the JSON.
    """
    unseen = [r for r in rows if str(r.get("role", "")).startswith("test")]
    scores: dict[tuple[float, float], list[tuple[str, float, float]]] = {}
    for r in unseen:
        kept = KeptCase.read(out / str(r["case"]))
        truth = read_labels(cases[str(r["case"])].truth)
        for t in thresholds:
            for v in min_volumes:
                m = evaluate_segmentation(kept.mask(t, v), truth, surface_distance=False)
                scores.setdefault((t, v), []).append((str(r["case"]), m.dice, m.lesion_f1))
    means = {k: (float(np.mean([d for _, d, _ in vals])), float(np.mean([f for _, _, f in vals])))
             for k, vals in scores.items()}
    lines = [f"Unseen cases: {len(unseen)}. Mean Dice / lesion F1 / their mean, per threshold and minimum volume.",
             "", "| threshold | min mm3 | Dice | lesion F1 | mean |", "|---|---|---|---|---|"]
    lines += [f"| {t:.2f} | {v:.0f} | {d:.3f} | {f:.3f} | {(d + f) / 2:.3f} |" for (t, v), (d, f) in means.items()]
    if means:
        best = max(means, key=lambda k: sum(means[k]))
        lines += ["", f"Per case at the best point, threshold {best[0]:.2f} / {best[1]:.0f} mm3 "
                  "(chosen on these same cases, so optimistic):", "", "| case | Dice | lesion F1 |", "|---|---|---|"]
        lines += [f"| {case} | {d:.3f} | {f:.3f} |" for case, d, f in scores[best]]
    records: list[dict[str, object]] = [
        {"case": case, "threshold": t, "min_lesion_volume_mm3": v, "dice": d, "lesion_f1": f}
        for (t, v), vals in scores.items() for case, d, f in vals]
    return "\n".join(lines), records


def _row(r: dict[str, object], label: str) -> str:
    def f(key: str, scale: float = 1.0, fmt: str = ".3f") -> str:
        value = r.get(key)
        return format(float(value) / scale, fmt) if isinstance(value, int | float) else ""

    return (f"| {label} | {r.get('role', '')} | {f('dice')} | {f('lesion_f1')} | {f('lesion_tpr')} | "
            f"{f('lesion_fpr')} | {r.get('truth_lesions', '')} | {r.get('predicted_lesions', '')} | "
            f"{f('small_tpr')} | {f('truth_volume_mm3', 1000, '.1f')} | {f('predicted_volume_mm3', 1000, '.1f')} | "
            f"{f('seconds', 1, '.0f')} | {f('peak_mb', 1, '.0f')} |")


def format_table(rows: list[dict[str, object]]) -> str:
    """Markdown table: one row per case, then the mean over all cases and over unseen (test) cases."""
    head = ["| case | role | Dice | lesion F1 | lesion TPR | lesion FPR | truth lesions | pred lesions | "
            "small TPR | truth ml | pred ml | s | peak MB |", "|---" * 13 + "|"]
    lines = head + [_row(r, str(r["case"])) for r in rows]
    lines.append(_row(dict(mean_metrics(rows, KEYS)), "**mean, all**"))
    unseen = [r for r in rows if str(r.get("role", "")).startswith("test")]
    if unseen and len(unseen) < len(rows):
        lines.append(_row(dict(mean_metrics(unseen, KEYS)), "**mean, unseen**"))
    return "\n".join(lines)


KEYS = ("dice", "lesion_f1", "lesion_tpr", "lesion_fpr", "precision", "recall", "truth_volume_mm3",
        "predicted_volume_mm3", "small_tpr", "seconds", "peak_mb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/accuracy"))
    parser.add_argument("--cases", nargs="*", help="Only these case names.")
    parser.add_argument("--methods", nargs="+", default=["model", "classical"], choices=["model", "classical"])
    parser.add_argument("--model", action="append", help="Model name or folder for method 'model' (default: "
                        "default); repeat once per cross-validation fold.")
    parser.add_argument("--flair-only", action="store_true", help="Segment from the FLAIR alone (no T1).")
    parser.add_argument("--slice-thickness", type=float, metavar="MM", help="Segment the inputs re-acquired as "
                        "2D axial slices MM thick (clinical 2D FLAIR) instead of the 1 mm originals.")
    parser.add_argument("--sweep", action="store_true", help="Also sweep threshold and minimum lesion volume.")
    parser.add_argument("--rescore", action="store_true", help="Do not segment again: re-read the cases' saved "
                        "rows and maps under --out (with --sweep: re-threshold an earlier run).")
    parser.add_argument("extra", nargs="*", help="Extra arguments for `lesionwatch segment` (after --).")
    args = parser.parse_args(argv)
    data = shared_data_dir()
    if data is None:
        print("../shared/data is absent: nothing to benchmark")
        return 0
    cases = [c for c in labelled_cases(data) if not args.cases or c.name in args.cases]
    args.out.mkdir(parents=True, exist_ok=True)
    report = []
    models = args.model or ["default"]
    for method in args.methods:
        saved = args.out / f"accuracy_{method}.json"
        if args.rescore and not saved.is_file():
            print(f"{saved}: no earlier run to rescore", file=sys.stderr)
            return 2
        rows = json.loads(saved.read_text())["rows"] if args.rescore else []
        for case in [] if args.rescore else cases:
            model, role = choose_model(case.patient, models) if method == "model" else ("", "test")
            extra = ["--method", method, *(["--model", model] if method == "model" else []), *args.extra]
            wall, peak = run_case(case, args.out / method / case.name, extra, use_t1=not args.flair_only,
                                  slice_thickness_mm=args.slice_thickness, inputs=args.out / "inputs")
            mask = args.out / method / case.name / MASK_NAME
            metrics = evaluate_segmentation(read_labels(mask), read_labels(case.truth))
            rows.append({"case": case.name, "patient": case.patient, "role": role, **metrics.as_dict(),
                         "small_tpr": metrics.by_size["small_lt10"].tpr, "seconds": wall, "peak_mb": peak})
            print(f"{method} {case.name} [{role}]: Dice {metrics.dice:.3f}  lesion F1 {metrics.lesion_f1:.3f}  "
                  f"{wall:.0f} s", flush=True)
        table = format_table(rows)
        report.append(f"### method: {method}{' (' + ', '.join(models) + ')' if method == 'model' else ''}\n\n"
                      f"{table}\n")
        result: dict[str, object] = {"rows": rows}
        if args.sweep:
            text, result["sweep"] = sweep(rows, {c.name: c for c in cases}, args.out / method)
            report.append(text + "\n")
        (args.out / f"accuracy_{method}.json").write_text(json.dumps(result, indent=2, default=str))
    text = "\n".join(report)
    (args.out / "accuracy.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
