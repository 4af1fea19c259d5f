"""Anatomical regions registered from the MNI template to a synthetic patient, and lesion location classes."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from lesionwatch.io.study import Study
from lesionwatch.io.volume import Volume
from lesionwatch.lesions.locations import (
    RegionConfig,
    _template_regions,
    derive_region_template,
    map_regions,
    region_template,
    within_mm,
)
from lesionwatch.lesions.table import lesion_table
from lesionwatch.preprocessing.pipeline import PreprocessingConfig, preprocess
from lesionwatch.synth import SynthConfig, generate_case
from lesionwatch.synth.anatomy import load_mni_anatomy

pytestmark = pytest.mark.slow


def test_location_classes_are_right_on_a_synthetic_patient() -> None:
    config = SynthConfig(spacing_mm=2.0, skull_stripped=True, lesion_count=(40, 45),
                         lesion_volume_mm3=(30.0, 600.0), pose_deg=8.0, pose_mm=6.0)
    case = generate_case(31, config)
    tp = case.timepoints[0]
    pre = preprocess(Study(dict(tp.images)), PreprocessingConfig())
    regions = map_regions(pre.channels["t1"], pre.brain_mask, RegionConfig(), flair=pre.channels["flair"])
    assert 1.5e6 < regions.intracranial_volume_mm3 < 2.3e6  # the MNI head, moved rigidly: volume kept
    patient = lesion_table(tp.lesions, pre.to_native(regions.regions), flair=pre.to_native(pre.channels["flair"]))
    # the truth: the same rule applied in template space, where the regions are exact
    anatomy = load_mni_anatomy(2.0)
    reference = lesion_table(tp.anatomy_lesions, _template_regions(anatomy, RegionConfig()),
                             flair=Volume(np.zeros(anatomy.shape, np.float32), anatomy.affine))
    truth = dict(zip(reference.column("lesion_id"), reference.column("location"), strict=True))
    found = dict(zip(patient.column("lesion_id"), patient.column("location"), strict=True))
    shared = sorted(set(truth) & set(found))
    agreement = np.mean([truth[i] == found[i] for i in shared])
    assert len(shared) >= 30
    assert set(Counter(truth[i] for i in shared)) == {"periventricular", "juxtacortical", "infratentorial",
                                                       "white_matter"}
    assert agreement >= 0.85, Counter((truth[i], found[i]) for i in shared)


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
