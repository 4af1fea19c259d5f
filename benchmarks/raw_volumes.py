"""Segment each study of the raw lesjak_long patients on its own and compare lesion volumes with the change mask.

Usage:
    python benchmarks/raw_volumes.py [--out benchmarks/results/raw_volumes] [-- EXTRA SEGMENT ARGS]

The scans are raw clinical 2D FLAIRs (3-4 mm slices, skull on; T1 where the study has one) that no model was
trained on. Each study runs as its own `lesionwatch segment` process (FLAIR [+ T1W], no report). Segmented alone,
study 1 and study 2 of a patient should differ in lesion volume by little more than the expert change mask
(new and enlarging lesion tissue, `gt.nii.gz`) explains. Where only one study has a T1 (patient03), that study is
also segmented from its FLAIR alone, so the pair is compared on the same sequences as well, as `lesionwatch
followup` compares them (it leaves out a sequence that is not in every study): a T1 changes the segmentation, so
volumes from different inputs mix the disease's change with the inputs'. Prints a Markdown table (ml) and writes it
with a JSON beside it; the output folders feed docs/scripts/raw_scan_overlays.py. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness import run_timed, segment_command
from lesionwatch.io.nifti import read_labels
from lesionwatch.paths import shared_data_dir
from lesionwatch.workflows.layout import SUMMARY_NAME


def segment(flair: Path, t1: Path | None, out: Path, extra: list[str]) -> tuple[float, float, float]:
    """Run `lesionwatch segment` on one study; return (lesion volume ml, wall seconds, peak MB)."""
    wall, peak = run_timed(segment_command(flair, t1, out, ["--no-report", *extra]), str(flair))
    summary = json.loads((out / SUMMARY_NAME).read_text())
    return float(summary["lesion_volume_mm3"]) / 1000, wall, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/raw_volumes"))
    parser.add_argument("extra", nargs="*", help="extra `lesionwatch segment` options (after --)")
    args = parser.parse_args(argv)
    data = shared_data_dir()
    if data is None or not (data / "lesjak_long").is_dir():
        print("../shared/data/lesjak_long not found: nothing to run", file=sys.stderr)
        return 2
    rows: list[dict[str, Any]] = []
    for patient in sorted((data / "lesjak_long").glob("patient*")):
        flairs = [patient / f"study{s}_FLAIR.nii.gz" for s in (1, 2)]
        t1s = [t if t.is_file() else None for t in (patient / f"study{s}_T1W.nii.gz" for s in (1, 2))]
        runs = [segment(f, t, args.out / patient.name / f"study{s}", args.extra)
                for s, f, t in zip((1, 2), flairs, t1s, strict=True)]
        # the same sequences in both studies: where one study has no T1, the other's T1 is left out too
        same = [r if t is None or None not in t1s
                else segment(f, None, args.out / patient.name / f"study{s}_flair", args.extra)
                for s, f, t, r in zip((1, 2), flairs, t1s, runs, strict=True)]
        volumes, same_volumes = [r[0] for r in runs], [r[0] for r in same]
        change = read_labels(patient / "gt.nii.gz")
        change_ml = float((change.array > 0.5).sum()) * change.voxel_volume_mm3 / 1000
        rows.append({"patient": patient.name, "study1_ml": round(volumes[0], 1), "study2_ml": round(volumes[1], 1),
                     "difference_ml": round(volumes[1] - volumes[0], 1),
                     "same_sequences": "FLAIR + T1" if None not in t1s else "FLAIR",
                     "same_study1_ml": round(same_volumes[0], 1), "same_study2_ml": round(same_volumes[1], 1),
                     "same_difference_ml": round(same_volumes[1] - same_volumes[0], 1),
                     "change_mask_ml": round(change_ml, 1),
                     "wall_s": [round(r[1], 1) for r in runs], "peak_mb": [round(r[2]) for r in runs]})
    lines = ["| patient | each study's own sequences: study 1 / 2 ml | 2 - 1 ml | same sequences in both "
             "| study 1 / 2 ml | 2 - 1 ml | expert change mask ml | wall s (1, 2) | peak MB (1, 2) |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['patient']} | {r['study1_ml']} / {r['study2_ml']} | {r['difference_ml']} | {r['same_sequences']} "
              f"| {r['same_study1_ml']} / {r['same_study2_ml']} | {r['same_difference_ml']} | {r['change_mask_ml']} "
              f"| {', '.join(map(str, r['wall_s']))} | {', '.join(map(str, r['peak_mb']))} |" for r in rows]
    table = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "raw_volumes.md").write_text(table + "\n")
    (args.out / "raw_volumes.json").write_text(json.dumps({"segment_args": args.extra, "rows": rows}, indent=2))
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
