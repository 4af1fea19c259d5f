"""Run the full `lesionwatch segment` command on every labelled case in ../shared/data and score it.

Usage:
    python benchmarks/accuracy.py [--out benchmarks/results/accuracy] [--cases P18_T1 ...] [-- EXTRA SEGMENT ARGS]

Each case runs as its own `lesionwatch segment` process (so wall time and peak memory are per case), then the
evaluation harness (`lesionwatch.lesions.metrics`) compares its mask with the expert mask. Writes a per-case
table plus means as Markdown and JSON, and prints the Markdown. Asserts nothing.

Split: the classical baseline has no training, so every case is held out. When a trained model is benchmarked,
pass its leave-one-patient-out model per case (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lesionwatch.io.nifti import read_labels
from lesionwatch.lesions.metrics import evaluate_segmentation, mean_metrics
from lesionwatch.paths import shared_data_dir


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
        flair = next(iter(folder.glob("FLAIR*.nii.gz")), None)
        t1 = next(iter(folder.glob("T1_*.nii.gz")), None)
        truth = next(iter(folder.glob("GOLD_STANDARD*.nii.gz")), None)
        if flair and truth:
            cases.append(Case(f"lesjak_{folder.name}", f"lesjak_cross/{folder.name}", flair, t1, truth))
    return cases


def run_case(case: Case, out: Path, extra: list[str]) -> tuple[float, float]:
    """Run `lesionwatch segment` in a child process; return (wall seconds, peak MB)."""
    cmd = [sys.executable, "-m", "lesionwatch", "--no-progress", "-q", "--force", "segment",
           "--flair", str(case.flair), "--out", str(out), *extra]
    if case.t1 is not None:
        cmd += ["--t1", str(case.t1)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{case.name}: lesionwatch segment failed")
    return wall, usage.ru_maxrss / 1024


def split_roles(model: str) -> dict[str, str]:
    """Patient -> its role for the model (train, validation), from the model card; others are unseen."""
    from lesionwatch.models.card import read_card, resolve_model_dir

    training = read_card(resolve_model_dir(model)).training
    roles = {p: "train" for p in training.get("train_patients", [])}
    roles.update({p: "validation" for p in training.get("validation_patients", [])})
    return roles


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
    parser.add_argument("--model", default="default", help="Model name or folder for method 'model'.")
    parser.add_argument("extra", nargs="*", help="Extra arguments for `lesionwatch segment` (after --).")
    args = parser.parse_args(argv)
    data = shared_data_dir()
    if data is None:
        print("../shared/data is absent: nothing to benchmark")
        return 0
    cases = [c for c in labelled_cases(data) if not args.cases or c.name in args.cases]
    args.out.mkdir(parents=True, exist_ok=True)
    report = []
    for method in args.methods:
        roles = split_roles(args.model) if method == "model" else {}
        extra = ["--method", method, *(["--model", args.model] if method == "model" else []), *args.extra]
        rows = []
        for case in cases:
            wall, peak = run_case(case, args.out / method / case.name, extra)
            mask = args.out / method / case.name / "lesion_mask_space-native.nii.gz"
            metrics = evaluate_segmentation(read_labels(mask), read_labels(case.truth))
            role = roles.get(case.patient, "test (unseen)")
            rows.append({"case": case.name, "patient": case.patient, "role": role, **metrics.as_dict(),
                         "small_tpr": metrics.by_size["small_lt10"].tpr, "seconds": wall, "peak_mb": peak})
            print(f"{method} {case.name} [{role}]: Dice {metrics.dice:.3f}  lesion F1 {metrics.lesion_f1:.3f}  "
                  f"{wall:.0f} s", flush=True)
        table = format_table(rows)
        report.append(f"### method: {method}{' (' + args.model + ')' if method == 'model' else ''}\n\n{table}\n")
        (args.out / f"accuracy_{method}.json").write_text(json.dumps({"rows": rows}, indent=2, default=str))
    text = "\n".join(report)
    (args.out / "accuracy.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
