"""lesion_mask: the one binarisation of a probability map shared by `segment` and the accuracy sweep."""

import numpy as np

from lesionwatch.io.volume import Volume
from lesionwatch.lesions.components import label_lesions, lesion_mask


def test_lesion_mask_thresholds_and_drops_small_components() -> None:
    prob = np.zeros((20, 20, 20), np.float32)
    prob[2:6, 2:6, 2:6] = 0.9  # 64 voxels of 0.5 mm3 = 32 mm3
    prob[10:12, 10:12, 10:12] = 0.9  # 8 voxels = 4 mm3
    prob[15:19, 15:19, 15:19] = 0.15  # below the threshold
    affine = np.diag([0.5, 1.0, 1.0, 1.0])
    mask = lesion_mask(Volume(prob, affine), threshold=0.2, min_volume_mm3=5.0)
    assert mask.array.dtype == np.uint8
    assert np.array_equal(mask.affine, affine)
    assert int(mask.array.sum()) == 64 and label_lesions(mask.array)[1] == 1
    assert int(lesion_mask(Volume(prob, affine), 0.2, 0.0).array.sum()) == 72
    assert int(lesion_mask(Volume(prob, affine), 0.1, 0.0).array.sum()) == 72 + 64
