"""Pool the threshold sweeps of several accuracy runs: mean Dice / lesion F1 per operating point over all of them.

Usage:
    python benchmarks/sweep_runs.py RUN/accuracy_model.json [RUN2/accuracy_model.json ...] [--top 10]

Each file is an `accuracy.py --sweep` result; each run counts once (the mean over its cases first), so a run with
more cases does not weigh more. Prints the best points by the mean of Dice and lesion F1, with each run's lesion F1.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def pooled(runs: list[Path]) -> dict[tuple[float, float], list[tuple[float, float]]]:
    """(threshold, min volume) -> per run (mean Dice, mean lesion F1) over its cases."""
    points: dict[tuple[float, float], list[tuple[float, float]]] = defaultdict(list)
    for run in runs:
        per: dict[tuple[float, float], list[tuple[float, float]]] = defaultdict(list)
        for r in json.loads(run.read_text())["sweep"]:
            per[(r["threshold"], r["min_lesion_volume_mm3"])].append((r["dice"], r["lesion_f1"]))
        for key, vals in per.items():
            points[key].append((float(np.mean([d for d, _ in vals])), float(np.mean([f for _, f in vals]))))
    return {k: v for k, v in points.items() if len(v) == len(runs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    points = pooled(args.runs)
    means = {k: (float(np.mean([d for d, _ in v])), float(np.mean([f for _, f in v]))) for k, v in points.items()}
    print(f"{len(args.runs)} runs, best {args.top} points by the mean of Dice and lesion F1:\n")
    print("| threshold | min mm3 | Dice | lesion F1 | mean | lesion F1 per run |\n|---|---|---|---|---|---|")
    for key in sorted(means, key=lambda k: -sum(means[k]))[: args.top]:
        d, f = means[key]
        per_run = ", ".join(f"{rf:.3f}" for _, rf in points[key])
        print(f"| {key[0]:.2f} | {key[1]:.0f} | {d:.3f} | {f:.3f} | {(d + f) / 2:.3f} | {per_run} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
