"""Post-processing: the one chain from a lesion probability map to the binary lesion mask.

    probability >= threshold -> drop 26-connected lesions smaller than the minimum volume

Nothing else is added to or removed from the mask. `segment`, `followup` (its joint analysis starts from the same
operating point) and the benchmarks all binarise through `lesion_mask`, so what is scored is what is shipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np
import numpy.typing as npt

from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.models.card import ModelCard


@dataclass(frozen=True)
class PostprocessingConfig:
    """The operating point: how a probability map becomes a lesion mask.

    Attributes:
        threshold: voxels with a lesion probability at or above this are lesion.
        min_lesion_volume_mm3: 26-connected lesions smaller than this (mm3) are dropped.
    """

    threshold: float = 0.5
    min_lesion_volume_mm3: float = 10.0


def card_operating_point(card: ModelCard) -> PostprocessingConfig:
    """The operating point a model card records (chosen by its validation, never on the scans it scores)."""
    return PostprocessingConfig(card.threshold, card.min_lesion_volume_mm3)


def remove_small_lesions(mask: npt.NDArray[np.bool_] | npt.NDArray[np.integer], voxel_volume_mm3: float,
                         min_volume_mm3: float) -> npt.NDArray[np.bool_]:
    """`mask` (non-zero = lesion) without its 26-connected components smaller than `min_volume_mm3`."""
    binary = np.ascontiguousarray(np.asarray(mask) != 0)
    if min_volume_mm3 <= 0 or not binary.any():
        return binary
    labels = cc3d.connected_components(binary.view(np.uint8), connectivity=26)
    sizes = np.bincount(labels.ravel())
    keep = sizes * voxel_volume_mm3 >= min_volume_mm3
    keep[0] = False
    return np.asarray(keep[labels])


def lesion_mask(probability: Volume, config: PostprocessingConfig) -> LabelVolume:
    """The lesion mask of a probability map at the operating point `config`, on the probability's grid.

    Args:
        probability: lesion probability in [0, 1], any grid (segment passes the native FLAIR grid).
        config: threshold and minimum lesion volume.

    Returns:
        uint8 LabelVolume (1 = lesion) with the probability's affine.
    """
    kept = remove_small_lesions(probability.array >= config.threshold, probability.voxel_volume_mm3,
                                config.min_lesion_volume_mm3)
    return probability.as_labels(kept.astype(np.uint8))
