"""Intensity normalisation inside the brain: robust z-score (median and spread of the brain voxels).

Raw MR intensities have no units. Dividing by a robust spread, after clipping the extreme 0.1%, makes the
network's input comparable across scanners and sessions while leaving lesion contrast intact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lesionwatch.io.volume import LabelVolume, Volume


@dataclass(frozen=True)
class NormalizationConfig:
    """Normalisation settings.

    Attributes:
        lower_percentile, upper_percentile: brain intensities are clipped to this range first.
        outside_value: value written outside the brain mask.
    """

    lower_percentile: float = 0.1
    upper_percentile: float = 99.9
    outside_value: float = 0.0


def normalize_intensity(image: Volume, mask: LabelVolume, config: NormalizationConfig) -> Volume:
    """Robust z-score of `image` inside `mask`: (x - median) / (1.4826 * MAD), outside set to a constant.

    Args:
        image: intensities on the same grid as `mask`.
        mask: brain mask.
        config: clipping percentiles and outside value.

    Returns:
        A float32 Volume, roughly zero-mean unit-spread inside the brain.
    """
    inside = mask.mask
    values = image.array[inside] if inside.any() else image.array.ravel()
    lo, hi = np.percentile(values, [config.lower_percentile, config.upper_percentile])
    clipped = np.clip(image.array, lo, hi)
    v = np.clip(values, lo, hi)
    centre = float(np.median(v))
    spread = float(1.4826 * np.median(np.abs(v - centre)))
    if spread <= 0:
        spread = float(v.std()) or 1.0
    out = (clipped - centre) / spread
    out[~inside] = config.outside_value
    return image.with_array(out.astype(np.float32))
