"""Throughput of the BIDS App: sessions per hour with 1 and 2 local workers.

Usage:
    python benchmarks/cohort.py [--subjects 4] [--spacing-mm 1.0] [--workers 1 2] [--out /tmp/lw-cohort-bench]

Builds a synthetic BIDS dataset (one session per subject, FLAIR + T1 with skull, `lesionwatch synth` anatomy),
then runs `lesionwatch bids DATA OUT participant --workers N` as a child process for each N (fresh output each
time, so nothing is skipped), timed with /usr/bin/time -v. Prints a Markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from harness import lesionwatch_command, run_timed
from lesionwatch.io.nifti import write_nifti
from lesionwatch.synth import SynthConfig, generate_case


def build_dataset(root: Path, subjects: int, spacing_mm: float) -> None:
    for s in range(subjects):
        case = generate_case(100 + s, SynthConfig(spacing_mm=spacing_mm))
        anat = root / f"sub-{s + 1:02d}" / "ses-01" / "anat"
        for name, suffix in (("flair", "FLAIR"), ("t1", "T1w")):
            write_nifti(case.timepoints[0].images[name], anat / f"sub-{s + 1:02d}_ses-01_{suffix}.nii.gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--spacing-mm", type=float, default=1.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=Path("/tmp/lw-cohort-bench"))
    args = parser.parse_args()
    data = args.out / "bids"
    if not data.exists():
        build_dataset(data, args.subjects, args.spacing_mm)
    lines = ["| workers | sessions | wall (s) | sessions / hour | peak RSS, largest process (MB) |",
             "|---|---|---|---|---|"]
    for n in args.workers:
        out = args.out / f"derivatives-{n}"
        shutil.rmtree(out, ignore_errors=True)
        wall, peak = run_timed(lesionwatch_command("bids", str(data), str(out), "participant", "--workers", str(n)),
                               f"{n} workers")
        lines.append(f"| {n} | {args.subjects} | {wall:.0f} | {args.subjects / wall * 3600:.0f} | {peak:.0f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
