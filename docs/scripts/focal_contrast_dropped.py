"""Make docs/images/focal_contrast_dropped.png: every lesion the focal-contrast step of `lesionwatch segment` drops
(small lesions whose FLAIR barely stands out from the tissue around them), on the normalised FLAIR, with the expert
mask, so one can see what the step removes.

Usage:
    .venv/bin/python docs/scripts/focal_contrast_dropped.py OUT.png RUN/model/CASE [RUN2/model/CASE2 ...]
Each folder is one case that `benchmarks/accuracy.py` segmented (it keeps the probability map, growth region,
region map, FLAIR and brain mask); its expert mask is found by the case's name. The mask is rebuilt as segment
builds it by default (the shipped model card's threshold and minimum volume, growth, midline step), so runs made
before the step existed, or at another operating point, show what it drops now. Red: a dropped lesion; green:
expert lesions. Panel titles say whether the dropped lesion touches an expert lesion (a true lesion lost) or not.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from accuracy import KeptCase, labelled_cases
from lesionwatch.io.nifti import read_labels
from lesionwatch.lesions.components import label_lesions
from lesionwatch.models.card import read_card, resolve_model_dir
from lesionwatch.paths import shared_data_dir
from lesionwatch.workflows.segment import SegmentationConfig

HALF = 20  # panel half-width, voxels


def dropped(folder: Path, truth_path: Path) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, bool]]:
    """(case, normalised FLAIR, dropped lesion, truth, touches truth) per lesion the step drops in `folder`."""
    card = read_card(resolve_model_dir("default"))
    defaults = SegmentationConfig()
    kept = KeptCase.read(folder, {"midline_mm": defaults.midline_mm, "min_focal_contrast": defaults.min_focal_contrast,
                                  "focal_contrast_max_volume_mm3": defaults.focal_contrast_max_volume_mm3})
    before = kept.mask(card.threshold, card.min_lesion_volume_mm3, grown=True, focal=False).mask
    after = kept.mask(card.threshold, card.min_lesion_volume_mm3, grown=True).mask
    assert kept.focal_flair is not None  # the step is on: KeptCase read the FLAIR it compares
    truth = read_labels(truth_path).mask
    labels, n = label_lesions(before & ~after)
    lesions = [labels == i for i in range(1, n + 1)]
    return [(folder.name, kept.focal_flair.array, lesion, truth, bool((truth & lesion).any())) for lesion in lesions]


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    cases = {c.name: c for c in labelled_cases(shared_data_dir())}
    panels = [p for folder in map(Path, argv[1:]) for p in dropped(folder, cases[folder.name].truth)]
    cols = 6
    rows = max(1, -(-len(panels) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (case, flair, lesion, truth, touches) in zip(axes.ravel(), panels, strict=False):
        c = np.round(np.argwhere(lesion).mean(0)).astype(int)
        box = slice(max(c[0] - HALF, 0), c[0] + HALF), slice(max(c[1] - HALF, 0), c[1] + HALF), c[2]
        ax.imshow(flair[box].T, cmap="gray", origin="lower", vmin=-3, vmax=5)
        ax.contour(lesion[box].T.astype(float), [0.5], colors="red", linewidths=1.0)
        if truth[box].any():
            ax.contour(truth[box].T.astype(float), [0.5], colors="lime", linewidths=1.0)
        verdict = "touches an expert lesion" if touches else "false positive"
        ax.set_title(f"{case}\n{int(lesion.sum())} voxels, {verdict}", fontsize=8)
    fig.suptitle(f"Lesions the focal-contrast step drops ({len(panels)}; "
                 f"{sum(p[4] for p in panels)} touch an expert lesion), axial, normalised FLAIR", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(argv[0], dpi=80)
    print(f"{argv[0]}: {len(panels)} dropped lesions, {sum(p[4] for p in panels)} touching an expert lesion")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
