"""Segment every unlabelled raw scan of ../shared/data/unlabelled and say where its lesions lie.

Usage:
    python benchmarks/unlabelled.py [--out benchmarks/results/unlabelled] [--model default] [-- EXTRA SEGMENT ARGS]

The scans (ISBI-2015 test scans: raw 2D FLAIR with skull; lesjak_long patients: raw clinical 2D FLAIR, 3-4 mm
slices, skull on, T1W where the study has one) have no expert mask, so nothing is scored: each runs as its own
`lesionwatch segment` process (FLAIR [+ T1W], no report), and the table gives its lesion count and volume, the
count and volume per location class (a storm of false lesions shows as many infratentorial or juxtacortical
lesions, or lesions outside the brain), seconds and peak MB. One overlay per scan (`OUT/<scan>.png`: the mask in
red on the FLAIR, on the six axial slices with the most lesion and the lowest and highest slices of the brain,
where errors on raw scans gather) is drawn to be looked at. Writes the table as Markdown and JSON. Asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness import run_timed, segment_command
from lesionwatch.paths import shared_data_dir
from lesionwatch.workflows.layout import BRAIN_MASK_NAME, FLAIR_NAME, LESION_TABLE_NAME, MASK_NAME, SUMMARY_NAME


@dataclass(frozen=True)
class Scan:
    name: str
    flair: Path
    t1: Path | None


def unlabelled_scans(data: Path) -> list[Scan]:
    """Every unlabelled scan: one per ISBI test folder and per lesjak_long study."""
    root = data / "unlabelled"
    scans = []
    for folder in sorted((root / "isbi2015_test").glob("test*")):
        flair = next(iter(sorted(folder.glob("*_flair.nii.gz"))), None)
        if flair is not None:
            scans.append(Scan(f"isbi_{folder.name}", flair, None))
    for folder in sorted((root / "lesjak_long").glob("patient*")):
        for flair in sorted(folder.glob("study*_FLAIR.nii.gz")):
            study = flair.name.split("_")[0]
            t1 = folder / f"{study}_T1W.nii.gz"
            scans.append(Scan(f"lesjak_{folder.name}_{study}", flair, t1 if t1.is_file() else None))
    return scans


def draw_overlay(scan: Scan, folder: Path, out: Path) -> None:
    """The mask on the FLAIR: the lowest and highest brain slices and the six slices with the most lesion."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lesionwatch.io.nifti import read_labels, read_volume
    from lesionwatch.preprocessing.reorientation import reorient_to_ras

    flair = reorient_to_ras(read_volume(folder / FLAIR_NAME))
    mask = reorient_to_ras(read_labels(folder / MASK_NAME)).array > 0
    brain = reorient_to_ras(read_labels(folder / BRAIN_MASK_NAME)).array > 0
    in_brain = np.flatnonzero(brain.any(axis=(0, 1)))
    load = mask.sum(axis=(0, 1))
    most = [int(k) for k in np.argsort(load)[::-1] if load[k] > 0][:6]
    ks = sorted({int(in_brain[0]), int(in_brain[-1]), *most}) if in_brain.size else most
    ks = ks or [flair.shape[2] // 2]
    fig, axes = plt.subplots(1, len(ks), figsize=(3 * len(ks), 3.4), facecolor="black", squeeze=False)
    top = float(np.percentile(flair.array[brain], 99.5)) if brain.any() else None
    for ax, k in zip(axes[0], ks, strict=True):
        ax.imshow(flair.array[:, :, k].T, cmap="gray", origin="lower", vmin=0, vmax=top)
        rgba = np.zeros((*mask.shape[:2], 4))
        rgba[mask[:, :, k]] = (1, 0, 0, 0.6)
        ax.imshow(np.transpose(rgba, (1, 0, 2)), origin="lower")
        ax.set_title(f"slice {k}: {int(load[k])} lesion voxels", color="white", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"{scan.name}: lesion mask (red) on the bias-corrected FLAIR", color="white")
    fig.savefig(out, dpi=70, facecolor="black", bbox_inches="tight")
    plt.close(fig)


def describe(folder: Path) -> dict[str, Any]:
    """Lesion count and volume, and per location class, from a segment output folder."""
    summary = json.loads((folder / SUMMARY_NAME).read_text())
    table = json.loads((folder / f"{LESION_TABLE_NAME}.json").read_text())
    lesions = table["rows"]
    by_class: dict[str, list[float]] = {}
    for lesion in lesions:
        by_class.setdefault(str(lesion["location"]), []).append(float(lesion["volume_mm3"]))
    return {"lesions": int(summary["lesion_count"]), "volume_ml": round(float(summary["lesion_volume_mm3"]) / 1000, 2),
            "by_location": {k: {"lesions": len(v), "volume_ml": round(sum(v) / 1000, 2)}
                            for k, v in sorted(by_class.items())},
            "qc_warnings": summary.get("qc_warnings", [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/unlabelled"))
    parser.add_argument("--model", default="default", help="Installed model name or model folder.")
    parser.add_argument("extra", nargs="*", help="Extra `lesionwatch segment` options (after --).")
    args = parser.parse_args(argv)
    data = shared_data_dir()
    if data is None or not (data / "unlabelled").is_dir():
        print("../shared/data/unlabelled is absent: nothing to run")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for scan in unlabelled_scans(data):
        folder = args.out / scan.name
        wall, peak = run_timed(segment_command(scan.flair, scan.t1, folder,
                                               ["--model", args.model, "--no-report", *args.extra]), scan.name)
        row = {"scan": scan.name, "inputs": "flair, t1" if scan.t1 else "flair", **describe(folder),
               "seconds": round(wall, 1), "peak_mb": round(peak)}
        draw_overlay(scan, folder, args.out / f"{scan.name}.png")
        rows.append(row)
        print(f"{scan.name}: {row['lesions']} lesions, {row['volume_ml']} ml ({wall:.0f} s)", flush=True)
    classes = sorted({c for r in rows for c in r["by_location"]})
    lines = ["| scan | inputs | lesions | ml | " + " | ".join(f"{c} (n / ml)" for c in classes) + " | s | peak MB |",
             "|---" * (len(classes) + 6) + "|"]
    for r in rows:
        cells = [f"{r['by_location'][c]['lesions']} / {r['by_location'][c]['volume_ml']:.2f}"
                 if c in r["by_location"] else "0" for c in classes]
        lines.append(f"| {r['scan']} | {r['inputs']} | {r['lesions']} | {r['volume_ml']:.2f} | " + " | ".join(cells)
                     + f" | {r['seconds']:.0f} | {r['peak_mb']} |")
    text = "\n".join(lines) + "\n"
    (args.out / "unlabelled.md").write_text(text)
    (args.out / "unlabelled.json").write_text(json.dumps(rows, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
