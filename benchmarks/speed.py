"""Time the preprocessing pipeline stage by stage (median of repeats) and report peak memory.

Usage:
    python benchmarks/speed.py [--repeats 3] [--flair F --t1 T]

Without --flair it uses ../shared/data/lesjak_long/patient01 study 1 (raw clinical FLAIR + T1, with skull) when
present, else the embedded synthetic case. Prints a Markdown table; asserts nothing. Peak memory is the
process's maximum resident set size (ru_maxrss), which includes the Python interpreter and libraries.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from lesionwatch.io.study import Study, StudyInputs, load_study
from lesionwatch.paths import shared_data_dir
from lesionwatch.preprocessing.pipeline import STAGES, PreprocessingConfig, preprocess
from lesionwatch.synth import SynthConfig, generate_case


def _default_study() -> tuple[Study, str]:
    data = shared_data_dir()
    if data is not None and (data / "lesjak_long" / "patient01" / "study1_FLAIR.nii.gz").is_file():
        folder = data / "lesjak_long" / "patient01"
        inputs = StudyInputs(flair=folder / "study1_FLAIR.nii.gz", t1=folder / "study1_T1W.nii.gz")
        return load_study(inputs), "lesjak_long/patient01 study1 (FLAIR 0.72x0.72x4 mm + T1, skull on)"
    case = generate_case(0, SynthConfig())
    return Study(dict(case.timepoints[0].images)), "synthetic seed 0 (1 mm FLAIR + T1, skull on)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--flair", type=Path)
    parser.add_argument("--t1", type=Path)
    args = parser.parse_args(argv)
    if args.flair:
        study, label = load_study(StudyInputs(flair=args.flair, t1=args.t1)), str(args.flair)
    else:
        study, label = _default_study()
    config = PreprocessingConfig()
    runs: list[dict[str, float]] = []
    walls: list[float] = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = preprocess(study, config)
        walls.append(time.perf_counter() - start)
        runs.append(result.timings_s)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"## Preprocessing speed: {label}")
    print(f"threads: torch {torch.get_num_threads()}, repeats: {args.repeats}\n")
    print("| stage | median s | min s | max s |")
    print("|---|---:|---:|---:|")
    for stage in STAGES:
        values = [r[stage] for r in runs]
        print(f"| {stage} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
    print(f"| **total (wall)** | **{statistics.median(walls):.2f}** | {min(walls):.2f} | {max(walls):.2f} |")
    print(f"\npeak resident memory: {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
