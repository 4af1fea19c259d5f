"""lesion_mask: the one binarisation of a probability map shared by `segment`, `followup` and the benchmarks."""

import numpy as np

from lesionwatch.inference.postprocessing import PostprocessingConfig, lesion_mask, remove_small_lesions
from lesionwatch.io.volume import Volume
from lesionwatch.lesions.components import label_lesions


def test_lesion_mask_thresholds_and_drops_small_components() -> None:
    prob = np.zeros((20, 20, 20), np.float32)
    prob[2:6, 2:6, 2:6] = 0.9  # 64 voxels of 0.5 mm3 = 32 mm3
    prob[10:12, 10:12, 10:12] = 0.9  # 8 voxels = 4 mm3
    prob[15:19, 15:19, 15:19] = 0.15  # below the threshold
    affine = np.diag([0.5, 1.0, 1.0, 1.0])
    mask = lesion_mask(Volume(prob, affine), PostprocessingConfig(threshold=0.2, min_lesion_volume_mm3=5.0))
    assert mask.array.dtype == np.uint8
    assert np.array_equal(mask.affine, affine)
    assert int(mask.array.sum()) == 64 and label_lesions(mask.array)[1] == 1
    assert int(lesion_mask(Volume(prob, affine), PostprocessingConfig(0.2, 0.0)).array.sum()) == 72
    assert int(lesion_mask(Volume(prob, affine), PostprocessingConfig(0.1, 0.0)).array.sum()) == 72 + 64


def test_small_lesions_are_counted_26_connected() -> None:
    """Two voxels touching only at a corner are one lesion of 2 mm3, kept at a 2 mm3 floor."""
    mask = np.zeros((5, 5, 5), bool)
    mask[1, 1, 1] = mask[2, 2, 2] = True
    mask[4, 4, 0] = True  # alone: 1 mm3
    kept = remove_small_lesions(mask, 1.0, 2.0)
    assert kept[1, 1, 1] and kept[2, 2, 2] and not kept[4, 4, 0]
    assert not remove_small_lesions(np.zeros((3, 3, 3), bool), 1.0, 2.0).any()
