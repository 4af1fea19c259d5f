"""Make docs/images/synthetic_vs_real.png: axial FLAIR and T1 slices of a synthetic case beside a real one.

Usage: .venv/bin/python docs/scripts/synthetic_vs_real.py   (needs ../shared/data for the real case)
Only the rendered picture is committed, never the real scan itself.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from lesionwatch.io.nifti import read_labels, read_volume
from lesionwatch.paths import shared_data_dir
from lesionwatch.preprocessing.reorientation import reorient_to_ras
from lesionwatch.synth import SynthConfig, generate_case


def _slice(arr: np.ndarray, k: int) -> np.ndarray:
    s = arr[:, :, k].T
    lo, hi = np.percentile(s, [1, 99.5])
    return np.clip((s - lo) / max(hi - lo, 1e-6), 0, 1)


def main() -> None:
    case = generate_case(0, SynthConfig())
    tp = case.timepoints[0]
    synth = {name: reorient_to_ras(img).array for name, img in tp.images.items()}
    synth_mask = reorient_to_ras(tp.lesions).array > 0
    rows = [("synthetic (seed 0, 1 mm, skull on)", synth, synth_mask)]
    data = shared_data_dir()
    if data is not None:
        d = data / "mslesseg" / "P14" / "T1"
        real = {"flair": reorient_to_ras(read_volume(d / "P14_T1_FLAIR.nii.gz")).array,
                "t1": reorient_to_ras(read_volume(d / "P14_T1_T1.nii.gz")).array}
        rows.append(("real (MSLesSeg P14, skull-stripped)", real,
                     reorient_to_ras(read_labels(d / "P14_T1_MASK.nii.gz")).array > 0))
    fig, axes = plt.subplots(len(rows), 4, figsize=(14, 3.8 * len(rows)), facecolor="black")
    axes = np.atleast_2d(axes)
    for r, (title, images, mask) in enumerate(rows):
        k = int(np.argmax(mask.sum(axis=(0, 1))))
        for c, (name, show_mask) in enumerate([("flair", False), ("flair", True), ("t1", False), ("t1", True)]):
            ax = axes[r, c]
            ax.imshow(_slice(images[name], k), cmap="gray", origin="lower")
            if show_mask:
                ax.contour(mask[:, :, k].T, levels=[0.5], colors="red", linewidths=0.8, origin="lower")
            ax.set_title(f"{title}\n{name.upper()}{' + lesions' if show_mask else ''}", color="white", fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    out = Path(__file__).resolve().parents[1] / "images" / "synthetic_vs_real.png"
    fig.savefig(out, dpi=80, facecolor="black")
    print(out)


if __name__ == "__main__":
    main()
