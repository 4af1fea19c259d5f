"""Cohort plots: lesion load of every session."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lesionwatch.reporting.figures import plt, png_bytes


def cohort_plot(names: Sequence[str], volumes_mm3: Sequence[float], counts: Sequence[int]) -> bytes:
    """Lesion volume per session (bars, sorted) and the distribution of lesion counts."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 1]})
    order = np.argsort(volumes_mm3)[::-1]
    ax1.bar(range(len(order)), [volumes_mm3[i] / 1000 for i in order], color="#e6194b")
    if len(order) <= 40:
        ax1.set_xticks(range(len(order)), [names[i] for i in order], rotation=60, ha="right", fontsize=7)
    ax1.set_ylabel("lesion volume (ml)")
    ax1.set_title(f"Lesion volume of {len(order)} sessions")
    ax2.hist(counts, bins=min(20, max(1, len(set(counts)))), color="#4363d8")
    ax2.set_xlabel("lesion count")
    ax2.set_title("Lesion counts")
    for ax in (ax1, ax2):
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return png_bytes(fig)
