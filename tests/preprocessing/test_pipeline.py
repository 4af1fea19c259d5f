from __future__ import annotations

import numpy as np
import pytest

from lesionwatch.atlas.mni import load_mni_anatomy
from lesionwatch.io.study import Study
from lesionwatch.preprocessing.pipeline import PreprocessingConfig, preprocess
from lesionwatch.preprocessing.skull_stripping import SkullStrippingConfig, looks_skull_stripped, strip_skull
from lesionwatch.synth import SynthConfig, SyntheticCase, generate_case


def _brain_on(grid_image: object, case: SyntheticCase, spacing: float) -> np.ndarray:
    """The anatomy's intracranial mask sampled on an acquired image's grid."""
    from lesionwatch.io.volume import LabelVolume
    from lesionwatch.preprocessing.resampling import Grid, resample

    anatomy = load_mni_anatomy(spacing)
    brain = LabelVolume(anatomy.brain.astype(np.uint8), anatomy.affine)
    tp = case.timepoints[0]
    return resample(brain, Grid.of(grid_image), world_transform=np.linalg.inv(tp.head_to_scanner)).mask  # type: ignore[arg-type]


@pytest.mark.slow
def test_deepbet_brain_mask_covers_the_brain_not_the_skull(medium_case: SyntheticCase) -> None:
    flair = medium_case.timepoints[0].images["flair"]
    assert not looks_skull_stripped(flair, SkullStrippingConfig())
    result = strip_skull(flair, SkullStrippingConfig())
    truth = _brain_on(flair, medium_case, 2.0)
    mask = result.mask.mask
    dice = 2 * (mask & truth).sum() / (mask.sum() + truth.sum())
    assert result.method == "deepbet"
    assert dice > 0.85
    lesions = medium_case.timepoints[0].lesions.mask
    assert (mask & lesions).sum() >= 0.95 * lesions.sum()


def test_skull_stripped_input_is_detected() -> None:
    case = generate_case(4, SynthConfig(spacing_mm=3.0, skull_stripped=True))
    flair = case.timepoints[0].images["flair"]
    result = strip_skull(flair, SkullStrippingConfig())
    assert result.method == "skull-stripped input"
    assert result.mask.mask.sum() == pytest.approx((flair.array > 0).sum(), rel=0.02)


@pytest.mark.slow
def test_pipeline_with_flair_alone(medium_case: SyntheticCase) -> None:
    flair = medium_case.timepoints[0].images["flair"]
    stages: list[str] = []
    pre = preprocess(Study({"flair": flair}), PreprocessingConfig(), on_stage=stages.append)
    assert stages == ["reorient", "register", "skull_strip", "bias_correct", "resample", "normalize"]
    assert list(pre.channels) == ["flair"] and pre.registrations == {}
    assert pre.grid.spacing_mm == pytest.approx((1.0, 1.0, 1.0))
    assert pre.native_brain_mask.shape == flair.shape
    np.testing.assert_allclose(pre.native_brain_mask.affine, flair.affine)
    inside = pre.channels["flair"].array[pre.brain_mask.mask]
    assert abs(float(np.median(inside))) < 0.1
    back = pre.to_native(pre.brain_mask)
    agreement = (back.mask == pre.native_brain_mask.mask).mean()
    assert agreement > 0.99


@pytest.mark.slow
def test_pipeline_registers_t1_and_keeps_channel_order(medium_case: SyntheticCase) -> None:
    images = medium_case.timepoints[0].images
    pre = preprocess(Study({"t1": images["t1"], "flair": images["flair"]}),
                     PreprocessingConfig(skull_stripping=SkullStrippingConfig(mode="deepbet")))
    assert list(pre.channels) == ["flair", "t1"]
    qc = pre.registrations["t1"]
    assert qc.normalized_mutual_information >= qc.initial_normalized_mutual_information - 0.01
    # same session: the registration should stay near identity
    assert np.abs(qc.flair_to_sequence[:3, 3]).max() < 2.0
