"""Replay kept cross-validation maps through the focal-contrast step of `lesionwatch segment` at several settings.

Usage:
    python benchmarks/focal_contrast.py RUN/accuracy_model.json [RUN2/accuracy_model.json ...]
        [--contrast 0 0.4 0.5 0.6 0.7] [--max-volume 100 300 1000 1e9] [--threshold 0.5] [--min-volume 10]

Each file is an `accuracy.py` result whose unseen cases' maps are kept beside it (RUN/model/CASE). Every case is
re-thresholded at one operating point, grown, put through the midline step, then through the focal-contrast step
at each (contrast, volume cap) setting (contrast 0: the step off), exactly as `accuracy.py --sweep` replays segment.
Prints Dice / lesion F1 per run and setting, then the mean over the runs (each run counts once) with how many runs
each setting raised or lowered lesion F1 against the step off: how session 16 chose 0.5 robust SDs and 100 mm3
(docs/model.md). About 2 s per case and setting on 2 cores. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from accuracy import labelled_cases, sweep
from lesionwatch.paths import shared_data_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--contrast", nargs="+", type=float, default=[0.0, 0.4, 0.5, 0.6, 0.7])
    parser.add_argument("--max-volume", nargs="+", type=float, default=[100.0, 300.0, 1000.0, 1e9])
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--min-volume", type=float, default=10.0)
    args = parser.parse_args(argv)
    data = shared_data_dir()
    if data is None:
        print("../shared/data is absent: nothing to replay")
        return 0
    cases = {c.name: c for c in labelled_cases(data)}
    settings = [(0.0, 0.0)] + [(c, v) for c in args.contrast if c > 0 for v in args.max_volume]
    scores: dict[tuple[float, float], list[tuple[float, float]]] = {s: [] for s in settings}
    print("| run | contrast | max mm3 | Dice | lesion F1 |\n|---|---|---|---|---|")
    for run in args.runs:
        rows = json.loads(run.read_text())["rows"]
        for contrast, volume in settings:
            _, records = sweep(rows, cases, run.parent / "model", thresholds=(args.threshold,),
                               min_volumes=(args.min_volume,),
                               segmentation={"min_focal_contrast": contrast, "focal_contrast_max_volume_mm3": volume})
            grown = [r for r in records if r["grown"]]
            d = float(np.mean([float(r["dice"]) for r in grown]))  # type: ignore[arg-type]
            f = float(np.mean([float(r["lesion_f1"]) for r in grown]))  # type: ignore[arg-type]
            scores[(contrast, volume)].append((d, f))
            print(f"| {run.parent} | {contrast:g} | {volume:g} | {d:.3f} | {f:.3f} |", flush=True)
    off = [f for _, f in scores[(0.0, 0.0)]]
    print(f"\nMean over {len(args.runs)} runs, at {args.threshold:g} / {args.min_volume:g} mm3, grown, midline step:\n")
    print("| contrast | max mm3 | Dice | lesion F1 | runs raised / lowered |\n|---|---|---|---|---|")
    for (contrast, volume), vals in scores.items():
        up = sum(f > o + 1e-9 for (_, f), o in zip(vals, off, strict=True))
        down = sum(f < o - 1e-9 for (_, f), o in zip(vals, off, strict=True))
        print(f"| {contrast:g} | {volume:g} | {np.mean([d for d, _ in vals]):.3f} | "
              f"{np.mean([f for _, f in vals]):.3f} | {up} / {down} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
