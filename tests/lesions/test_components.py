"""lesion_mask: the one binarisation of a probability map shared by `segment` and the accuracy sweep; grow_lesions,
the growth over FLAIR-hyperintense voxels that follows it; faint_lesions, the small lesions that do not stand out."""

import numpy as np
import pytest

from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.lesions.components import faint_lesions, grow_lesions, label_lesions, lesion_mask


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


def test_grow_lesions_enlarges_touched_regions_only() -> None:
    shape, affine = (30, 30, 30), np.eye(4)
    mask = np.zeros(shape, np.uint8)
    mask[5:7, 5:7, 5:7] = 1  # a lesion core
    mask[20, 20, 20] = 1  # a lesion outside the region: kept as it is
    region = np.zeros(shape, np.uint8)
    region[4:10, 4:10, 4:10] = 1  # hyperintense tissue around the first core (216 voxels)
    region[15:18, 2:5, 2:5] = 1  # hyperintense tissue touching no lesion: never a new lesion
    grown = grow_lesions(LabelVolume(mask, affine), LabelVolume(region, affine))
    assert grown.array.dtype == np.uint8 and np.array_equal(grown.affine, affine)
    assert int(grown.array.sum()) == 216 + 1
    assert label_lesions(grown.array)[1] == 2
    assert not grown.array[15:18, 2:5, 2:5].any()
    assert np.all(grown.array[mask > 0] == 1)
    empty = grow_lesions(LabelVolume(np.zeros(shape, np.uint8), affine), LabelVolume(region, affine))
    assert not empty.array.any()  # nothing to grow from: nothing found
    with pytest.raises(ValueError, match="differ in shape"):
        grow_lesions(LabelVolume(mask, affine), LabelVolume(region[:-1], affine))


def test_faint_lesions_are_the_small_ones_that_do_not_stand_out() -> None:
    shape, affine = (40, 40, 40), np.eye(4)
    flair = np.random.default_rng(0).normal(0.0, 0.1, shape).astype(np.float32)
    mask = np.zeros(shape, np.uint8)
    mask[5:8, 5:8, 5:8] = 1  # 27 mm3, 2 robust SDs above its surroundings: a lesion
    flair[5:8, 5:8, 5:8] += 2.0
    mask[15:18, 5:8, 5:8] = 1  # 27 mm3, 0.3 SDs above: diffuse brightness, found
    flair[15:18, 5:8, 5:8] += 0.3
    mask[20:36, 20:36, 20:22] = 1  # 512 mm3 and as faint: above the volume limit, kept
    flair[20:36, 20:36, 20:22] += 0.3
    flair[25:35, 5:15, 5:15] += 2.0  # a bright patch ...
    mask[29:31, 9:11, 9:11] = 1  # ... with a small "lesion" no brighter than the patch inside it: found
    brain = np.ones(shape, np.uint8)
    found = faint_lesions(LabelVolume(mask, affine), Volume(flair, affine), LabelVolume(brain, affine),
                          min_contrast=0.5, max_volume_mm3=100.0)
    assert found.dtype == bool and found.shape == shape
    assert found[16, 6, 6] and found[30, 10, 10]
    assert not found[6, 6, 6] and not found[28, 28, 21]
    assert int(found.sum()) == 27 + 8
    # no surroundings inside the brain: nothing to compare with, kept
    alone = np.zeros(shape, np.uint8)
    alone[15:18, 5:8, 5:8] = 1
    assert not faint_lesions(LabelVolume(mask, affine), Volume(flair, affine), LabelVolume(alone, affine),
                             0.5, 100.0)[16, 6, 6]
    # the shell is in mm: a one-slice lesion as bright as the slices above and below it, darker around it in-plane,
    # is faint at 1 mm (those slices are around it) and stands out with 4 mm slices (no slice is within 2 mm)
    layer = np.zeros(shape, np.float32)
    layer[0:15, 20:35, 18:23] = 1.0
    layer[0:15, 20:35, 20] = 0.0
    layer[6:9, 26:29, 20] = 1.0
    one = np.zeros(shape, np.uint8)
    one[6:9, 26:29, 20] = 1
    thick = np.diag([1.0, 1.0, 4.0, 1.0])
    assert faint_lesions(LabelVolume(one, affine), Volume(layer, affine), LabelVolume(brain, affine), 0.5, 100.0).any()
    assert not faint_lesions(LabelVolume(one, thick), Volume(layer, thick), LabelVolume(brain, thick), 0.5, 100.0).any()
    empty = faint_lesions(LabelVolume(np.zeros(shape, np.uint8), affine), Volume(flair, affine),
                          LabelVolume(brain, affine), 0.5, 100.0)
    assert not empty.any()
    with pytest.raises(ValueError, match="differ in shape"):
        faint_lesions(LabelVolume(mask, affine), Volume(flair[:-1], affine), LabelVolume(brain, affine), 0.5, 100.0)
