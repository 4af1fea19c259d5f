"""Automatic QC warnings on hand-made preprocessing results."""

from __future__ import annotations

import numpy as np

from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.lesions.table import LesionTable
from lesionwatch.preprocessing.pipeline import PreprocessedStudy, RegistrationQC
from lesionwatch.workflows.qc import qc_warnings


def _study(nmi: float, nmi_before: float, slice_mm: float, brain_voxels: int, sharpness: float = 0.02
           ) -> PreprocessedStudy:
    affine = np.diag([1.0, 1.0, slice_mm, 1.0])
    mask = np.zeros((120, 120, 100), np.uint8)
    mask.reshape(-1)[:brain_voxels] = 1
    flair = Volume(np.ones(mask.shape), affine)
    brain = LabelVolume(mask, affine)
    reg = {"t1": RegistrationQC(np.eye(4), -1.0, nmi, nmi_before, sharpness)}
    return PreprocessedStudy(flair, {"flair": flair}, brain, brain, flair, "deepbet", reg, {})


def test_a_good_study_has_no_warnings() -> None:
    assert qc_warnings(_study(1.25, 1.05, 1.0, 1_200_000), LesionTable()) == []


def test_each_problem_is_named() -> None:
    warnings = qc_warnings(_study(1.02, 1.10, 4.0, 100_000, sharpness=-0.01), LesionTable(
        ({"flair_contrast_nawm_sd": 0.8},)))  # type: ignore[arg-type]
    text = " ".join(warnings)
    assert "T1 to FLAIR registration looks poor" in text
    assert "brain mask of 400 ml is outside the usual" in text
    assert "slices are 4.0 mm thick" in text
    assert "low lesion contrast" in text


def test_a_registration_that_keeps_the_header_alignment_is_not_flagged() -> None:
    assert qc_warnings(_study(1.099, 1.104, 1.0, 1_200_000), LesionTable()) == []


def test_a_low_nmi_on_a_sharp_peak_is_not_flagged_but_a_flat_one_is() -> None:
    # skull-stripped pairs: low absolute NMI, yet aligned (the MSLesSeg scans scored 1.05-1.08)
    assert qc_warnings(_study(1.06, 1.05, 1.0, 1_200_000, sharpness=0.02), LesionTable()) == []
    flagged = qc_warnings(_study(1.06, 1.05, 1.0, 1_200_000, sharpness=-0.001), LesionTable())
    assert len(flagged) == 1 and "sharpness -0.001" in flagged[0]
