"""The classical baseline segmenter: FLAIR hyperintensity relative to the brain's own intensity distribution.

Inside the brain mask eroded by `rim_mm` (which removes the cortical ribbon and meningeal partial volume that
are bright on FLAIR), a voxel is lesion-like when its robust z-score (see `preprocessing.normalization`) exceeds
`z_threshold`. A smooth score (logistic in z) is returned so that thresholding and resampling behave like those of
a network's probability. This is the reference every learned model must beat, in the spirit of the threshold
methods of the lesion-segmentation literature (e.g. Jain et al., NeuroImage Clin 2015, without their atlas).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from lesionwatch.io.volume import LabelVolume, Volume


@dataclass(frozen=True)
class ClassicalConfig:
    """Settings of the FLAIR-threshold baseline.

    Attributes:
        z_threshold: robust z-score of FLAIR above which a voxel scores 0.5.
        softness: width of the logistic score, in z units.
        rim_mm: the brain mask is eroded by this much before scoring.
        t1_max_z: when a T1 is present, voxels brighter than this on T1 (fat, vessels) are not lesions.
    """

    z_threshold: float = 2.0
    softness: float = 0.5
    rim_mm: float = 4.0
    t1_max_z: float = 2.5


def flair_hyperintensity_score(channels: dict[str, Volume], brain_mask: LabelVolume, config: ClassicalConfig
                               ) -> Volume:
    """Lesion score in [0, 1] on the working grid.

    Args:
        channels: normalised images on the working grid ("flair" required, "t1" optional).
        brain_mask: brain mask on the same grid.
        config: thresholds.

    Returns:
        Volume of lesion scores (0 outside the eroded brain).
    """
    flair = channels["flair"]
    spacing = np.array(flair.spacing_mm)
    iterations = max(1, round(config.rim_mm / float(spacing.mean())))
    core = ndimage.binary_erosion(brain_mask.mask, iterations=iterations)
    z = flair.array
    score = 1.0 / (1.0 + np.exp(-(z - config.z_threshold) / config.softness))
    if "t1" in channels:
        score = np.where(channels["t1"].array > config.t1_max_z, 0.0, score)
    return flair.with_array(np.where(core, score, 0.0).astype(np.float32))
