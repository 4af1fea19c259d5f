"""Time the whole `lesionwatch followup` command of two 1 mm studies with the report (median of repeats) and its peak
memory.

Usage:
    python benchmarks/followup_speed.py [--repeats 3] [-- EXTRA FOLLOWUP ARGS]

The studies are ../shared/data/mslesseg/P14 T1 and T2 (1 mm FLAIR + T1, 182x218x182, one patient a year apart).
Each run is a fresh process timed from outside (reading, preprocessing and segmenting both studies, aligning them,
the joint analysis, writing, the figures, the reading view, the HTML and the PDF); peak memory is the child's
maximum resident set size. Stage seconds are the medians of the runs' provenance.json timings. Prints a Markdown
table; asserts nothing. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from harness import lesionwatch_command, timed_runs, timing_cells
from lesionwatch.paths import cpu_threads, shared_data_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="Extra arguments for `lesionwatch followup` (after --).")
    args = parser.parse_args(argv)
    data = shared_data_dir()
    if data is None:
        print("../shared/data is absent: nothing to time")
        return 0
    folder = data / "mslesseg" / "P14"
    inputs: list[str] = []
    for point in ("T1", "T2"):
        inputs += ["--flair", str(folder / point / f"P14_{point}_FLAIR.nii.gz")]
    for point in ("T1", "T2"):
        inputs += ["--t1", str(folder / point / f"P14_{point}_T1.nii.gz")]
    print(f"case: mslesseg P14 T1 -> T2 (1 mm FLAIR + T1); {args.repeats} runs; {cpu_threads()} CPU threads "
          f"(of {os.cpu_count()} cores)\n")
    with tempfile.TemporaryDirectory() as tmp:
        runs = timed_runs(lambda out: lesionwatch_command("followup", *inputs, "--out", str(out), *args.extra),
                          [Path(tmp) / f"run{i}" for i in range(args.repeats)], "mslesseg P14")
    print("\n| median s | min s | max s | peak MB (max) | stages (median s) |\n|---|---|---|---|---|")
    print(f"| {timing_cells(*runs)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
