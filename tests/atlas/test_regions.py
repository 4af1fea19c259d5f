"""The packaged MNI region template, other settings' templates, and the distance helper of the region map."""

from __future__ import annotations

import numpy as np
import pytest

from lesionwatch.atlas.regions import RegionConfig, derive_region_template, region_template, within_mm

pytestmark = pytest.mark.slow


def test_packaged_region_template_is_what_the_code_derives() -> None:
    config = RegionConfig()
    packaged, derived = region_template(config), derive_region_template(config)
    # a stale file (the anatomy or the region rule changed): rebuild it with scripts/make_region_template.py
    np.testing.assert_array_equal(packaged.regions.array, derived.regions.array)
    np.testing.assert_allclose(packaged.regions.affine, derived.regions.affine)
    np.testing.assert_allclose(packaged.image.array, derived.image.array, atol=1e-6)
    np.testing.assert_allclose(packaged.image.affine, derived.image.affine)
    assert packaged.intracranial_volume_mm3 == pytest.approx(derived.intracranial_volume_mm3)
    assert set(np.unique(packaged.regions.array)) == {0, 1, 2, 3, 4, 5}


def test_other_settings_derive_their_own_regions() -> None:
    wider = RegionConfig(cortex_max_depth_mm=60.0)
    assert (region_template(wider).regions.array == 2).sum() > (region_template(RegionConfig()).regions.array
                                                                == 2).sum()


def test_within_mm_equals_the_whole_volume_distance_transform() -> None:
    from scipy import ndimage

    rng = np.random.default_rng(3)
    spacing = (0.9, 1.2, 3.0)
    mask = rng.random((40, 30, 20)) > 0.998
    mask[0, 29, 10] = True  # a voxel at the edge of the field of view
    for distance in (1.0, 4.5):
        expected = ndimage.distance_transform_edt(~mask, sampling=spacing) <= distance
        np.testing.assert_array_equal(within_mm(mask, spacing, distance), expected)
    assert not within_mm(np.zeros((5, 5, 5), bool), spacing, 3.0).any()
