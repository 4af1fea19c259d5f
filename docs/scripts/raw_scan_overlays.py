"""Make docs/images/lesjak_PATIENT_model_overlay.png: the default model's lesion mask on the raw clinical
FLAIRs of a lesjak_long patient (2D FLAIR, 3-4 mm slices, skull on), study 1 and study 2.

Usage: segment both studies first (`benchmarks/raw_volumes.py --out DIR` does), then
    .venv/bin/python docs/scripts/raw_scan_overlays.py PATIENT DIR/PATIENT/study1 DIR/PATIENT/study2 [...]
One row per segmentation folder; its study comes from the folder's name (`study2_flair`, which raw_volumes writes
where the other study has no T1, is study 2 segmented from its FLAIR alone).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from lesionwatch.io.nifti import read_labels, read_volume
from lesionwatch.paths import shared_data_dir
from lesionwatch.preprocessing.reorientation import reorient_to_ras
from lesionwatch.workflows.layout import BRAIN_MASK_NAME, MASK_NAME


def main(patient: str, seg_dirs: list[Path]) -> None:
    data = shared_data_dir()
    assert data is not None, "needs ../shared/data"
    fig, axes = plt.subplots(len(seg_dirs), 6, figsize=(18, 3.4 * len(seg_dirs)), facecolor="black", squeeze=False)
    for r, seg in enumerate(seg_dirs):
        study = seg.name.split("_")[0]  # study1, study2
        label = study.replace("study", "study ") + (", FLAIR alone" if seg.name.endswith("_flair") else "")
        flair = reorient_to_ras(read_volume(data / "lesjak_long" / patient / f"{study}_FLAIR.nii.gz"))
        mask = reorient_to_ras(read_labels(seg / MASK_NAME)).array > 0
        brain = reorient_to_ras(read_labels(seg / BRAIN_MASK_NAME)).array > 0
        ks = np.linspace(1, flair.shape[2] - 3, 6).astype(int)  # include the slab edges, where errors gather
        for c, k in enumerate(ks):
            ax = axes[r, c]
            s = flair.array[:, :, k].T
            ax.imshow(s, cmap="gray", origin="lower", vmax=np.percentile(flair.array, 99.5))
            ax.contour(brain[:, :, k].T, levels=[0.5], colors="deepskyblue", linewidths=0.5, origin="lower")
            ax.contour(mask[:, :, k].T, levels=[0.5], colors="red", linewidths=0.8, origin="lower")
            ax.set_title(f"{label}, slice {k}", color="white", fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    out = Path(__file__).resolve().parents[1] / "images" / f"lesjak_{patient}_model_overlay.png"
    fig.savefig(out, dpi=70, facecolor="black")
    print(out)


if __name__ == "__main__":
    main(sys.argv[1], [Path(p) for p in sys.argv[2:]])
