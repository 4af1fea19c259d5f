"""Time the whole `lesionwatch segment` command (median of repeats) with and without the report, and its peak memory.

Usage:
    python benchmarks/segment_speed.py [--repeats 3] [--model default] [--flair F --t1 T] [-- EXTRA SEGMENT ARGS]

Without --flair it uses ../shared/data/mslesseg/P39/T1 (1 mm FLAIR + T1, 182x218x182) when present, else the
embedded synthetic demo case. Each run is a fresh process (start-up, reading, preprocessing, network, regions,
writing the outputs; with `--report` also the figures, the HTML and the PDF), timed from outside; peak memory is
the child's maximum resident set size. Stage seconds are the medians of the runs' provenance.json timings.
Prints a Markdown table; asserts nothing. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
from pathlib import Path

from harness import segment_command, timed_runs, timing_cells
from lesionwatch.paths import cpu_threads, shared_data_dir


def default_inputs(scratch: Path) -> tuple[Path, Path | None, str]:
    data = shared_data_dir()
    if data is not None:
        folder = data / "mslesseg" / "P39" / "T1"
        flair, t1 = folder / "P39_T1_FLAIR.nii.gz", folder / "P39_T1_T1.nii.gz"
        if flair.is_file() and t1.is_file():
            return flair, t1, "mslesseg P39 T1 (1 mm, 182x218x182)"
    from lesionwatch.io.nifti import write_nifti
    from lesionwatch.synth import SynthConfig, generate_case
    from lesionwatch.workflows.demo import DEMO_SEED

    images = generate_case(DEMO_SEED, SynthConfig(), timepoints=1).timepoints[0].images
    write_nifti(images["flair"], scratch / "flair.nii.gz")
    write_nifti(images["t1"], scratch / "t1.nii.gz")
    return scratch / "flair.nii.gz", scratch / "t1.nii.gz", "embedded synthetic demo case"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="default")
    parser.add_argument("--flair", type=Path)
    parser.add_argument("--t1", type=Path)
    parser.add_argument("extra", nargs="*", help="Extra arguments for `lesionwatch segment` (after --).")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        if args.flair is not None:
            flair, t1, label = args.flair, args.t1, str(args.flair)
        else:
            flair, t1, label = default_inputs(scratch)
        print(f"case: {label}; model: {args.model}; {args.repeats} runs each; {cpu_threads()} CPU threads "
              f"(of {os.cpu_count()} cores)\n")
        lines = ["| report | median s | min s | max s | peak MB (max) | stages (median s) |",
                 "|---|---|---|---|---|---|"]
        for report in (False, True):
            extra = ["--report" if report else "--no-report", "--model", args.model, *args.extra]
            runs = timed_runs(functools.partial(segment_command, flair, t1, extra=extra),
                              [scratch / f"run{int(report)}{i}" for i in range(args.repeats)], f"report={report}")
            lines.append(f"| {'yes' if report else 'no'} | {timing_cells(*runs)} |")
        print("\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
