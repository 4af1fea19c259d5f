"""Checks on real MS scans from ../shared/data (skipped when the folder is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from lesionwatch.io.itk import ras_matrix_from_itk
from lesionwatch.io.nifti import read_labels, read_volume
from lesionwatch.io.study import StudyInputs, load_study
from lesionwatch.io.volume import Volume
from lesionwatch.preprocessing.pipeline import PreprocessingConfig, preprocess
from lesionwatch.preprocessing.registration import RegistrationConfig, mean_displacement_mm, register
from lesionwatch.preprocessing.reorientation import reorient_to_ras
from lesionwatch.preprocessing.resampling import Grid, resample
from lesionwatch.preprocessing.skull_stripping import SkullStrippingConfig, looks_skull_stripped

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def patient01(shared_data: Path) -> Path:
    folder = shared_data / "lesjak_long" / "patient01"
    if not (folder / "study1_FLAIR.nii.gz").is_file():
        pytest.skip("lesjak_long/patient01 is absent")
    return folder


def _itk_matrix(path: Path) -> np.ndarray:
    return ras_matrix_from_itk(sitk.ReadTransform(str(path)))


def test_raw_clinical_scan_brain_mask_covers_brain_not_skull(patient01: Path) -> None:
    study = load_study(StudyInputs(flair=patient01 / "study1_FLAIR.nii.gz", t1=patient01 / "study1_T1W.nii.gz"))
    assert not looks_skull_stripped(study.flair, SkullStrippingConfig())
    pre = preprocess(study, PreprocessingConfig())
    brain_ml = pre.native_brain_mask.volume_mm3 / 1000
    assert 900 < brain_ml < 1900
    flair = study.flair
    head = flair.array > np.percentile(flair.array, 60)
    head_ml = head.sum() * flair.voxel_volume_mm3 / 1000
    assert brain_ml < 0.85 * head_ml  # the scalp and skull are left out
    # expert lesion-change voxels (common space) mapped into the study-1 FLAIR grid must lie in the brain mask
    gt = read_labels(patient01 / "gt.nii.gz")
    to_common = _itk_matrix(patient01 / "study1_FLAIR_to_common_space.txt")
    lesions = resample(gt, Grid.of(flair), world_transform=np.linalg.inv(to_common)).mask
    assert lesions.sum() > 50
    inside = (lesions & pre.native_brain_mask.mask).sum() / lesions.sum()
    assert inside > 0.97


def test_t1_registration_agrees_with_expert_transform_after_a_header_move(patient01: Path) -> None:
    flair = reorient_to_ras(read_volume(patient01 / "study1_FLAIR.nii.gz"))
    t1 = reorient_to_ras(read_volume(patient01 / "study1_T1W.nii.gz"))
    expert = _itk_matrix(patient01 / "study1_T1W_intrastudy_to_FLAIR.txt")  # FLAIR point -> T1 point
    brain = np.argwhere(flair.array > np.percentile(flair.array, 75))[::25]
    points = brain @ flair.affine[:3, :3].T + flair.affine[:3, 3]
    centre = points.mean(axis=0)
    move = np.eye(4)
    move[:3, :3] = Rotation.from_rotvec(np.deg2rad(12.0) * np.array([1.0, 1.0, 0.0]) / np.sqrt(2)).as_matrix()
    move[:3, 3] = centre - move[:3, :3] @ centre + np.array([10.0, -6.0, 5.0])
    moved = Volume(t1.array, move @ t1.affine)  # header moved by 12 degrees and about 12.7 mm
    result = register(moved, flair, RegistrationConfig())
    assert mean_displacement_mm(result.fixed_to_moving, move @ expert, points) < 2.0


def test_skull_stripped_mni_data_is_detected(shared_data: Path) -> None:
    flair_path = shared_data / "mslesseg" / "P18" / "T1"
    files = sorted(flair_path.glob("*FLAIR*.nii*"))
    if not files:
        pytest.skip("mslesseg/P18 FLAIR is absent")
    assert looks_skull_stripped(read_volume(files[0]), SkullStrippingConfig())
