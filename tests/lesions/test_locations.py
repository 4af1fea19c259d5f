"""Lesion location classes on a synthetic patient, through the regions registered from the MNI template."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from lesionwatch.atlas.mni import load_mni_anatomy
from lesionwatch.atlas.regions import RegionConfig, _template_regions, map_regions
from lesionwatch.io.study import Study
from lesionwatch.io.volume import Volume
from lesionwatch.lesions.table import lesion_table
from lesionwatch.preprocessing.pipeline import PreprocessingConfig, preprocess
from lesionwatch.synth import SynthConfig, generate_case

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
