from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from lesionwatch.errors import SpatialMismatchError
from lesionwatch.io.volume import Volume
from lesionwatch.preprocessing.registration import (
    RegistrationConfig,
    alignment_sharpness,
    mean_displacement_mm,
    pyramid_levels,
    register,
)
from lesionwatch.synth import SyntheticCase
from lesionwatch.workflows.qc import MIN_SHARPNESS


def _rigid(deg: float, mm: float, centre: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = Rotation.from_rotvec(np.deg2rad(deg) * np.array([0.3, 0.5, 0.8]) / np.linalg.norm([0.3, 0.5, 0.8]))\
        .as_matrix()
    m[:3, 3] = centre - m[:3, :3] @ centre + np.array([mm, -mm / 2, mm / 3])
    return m


def test_known_rigid_header_move_is_recovered(small_case: SyntheticCase) -> None:
    flair = small_case.timepoints[0].images["flair"]
    t1 = small_case.timepoints[0].images["t1"]  # same session, so already aligned with the FLAIR
    brain = np.argwhere(small_case.timepoints[0].images["flair"].array > 0)
    pts = brain @ flair.affine[:3, :3].T + flair.affine[:3, 3]
    move = _rigid(12.0, 10.0, pts.mean(axis=0))
    moved = Volume(t1.array, move @ t1.affine)
    result = register(moved, flair, RegistrationConfig())
    # the expected fixed->moving map is `move` itself
    assert mean_displacement_mm(result.fixed_to_moving, move, pts[::20]) < 2.0
    assert result.normalized_mutual_information > result.initial_normalized_mutual_information
    assert result.sharpness > MIN_SHARPNESS  # a recovered alignment sits on an NMI peak
    quick = register(moved, flair, RegistrationConfig(), quality=False)  # same optimisation, no QC figures
    assert mean_displacement_mm(quick.fixed_to_moving, move, pts[::20]) < 2.0  # (ITK threads: not bit-equal)
    assert np.isnan(quick.sharpness) and np.isnan(quick.initial_normalized_mutual_information)


def test_sharpness_is_positive_only_when_aligned(small_case: SyntheticCase) -> None:
    from scipy import ndimage

    flair = small_case.timepoints[0].images["flair"]
    t1 = small_case.timepoints[0].images["t1"]
    head = flair.array > np.percentile(flair.array, 50)
    assert alignment_sharpness(flair, t1, head) > MIN_SHARPNESS
    for moved in (ndimage.shift(t1.array, (3, 0, 0), order=1),
                  ndimage.rotate(t1.array, 10, axes=(1, 2), reshape=False, order=1)):
        assert alignment_sharpness(flair, t1.with_array(moved), head) < MIN_SHARPNESS


def test_images_that_do_not_overlap_are_refused(blob_volume: Volume) -> None:
    far = Volume(blob_volume.array, blob_volume.affine.copy())
    far.affine[:3, 3] += 500.0
    with pytest.raises(SpatialMismatchError, match="do not overlap in space"):
        register(far, blob_volume, RegistrationConfig())


def test_pyramid_stops_at_the_first_level_of_about_two_millimetres() -> None:
    config = RegistrationConfig()  # shrink 4, 2, 1
    assert [f for f, _ in pyramid_levels(config, 1.0)] == [4, 2]  # 1 mm: stops at 2 mm voxels
    assert [f for f, _ in pyramid_levels(config, 0.72)] == [4, 2]  # raw 2D FLAIR pixels
    assert [f for f, _ in pyramid_levels(config, 3.0)] == [4, 2, 1]  # coarse images keep every level
    full = RegistrationConfig(finest_level_mm=0.0)  # the follow-up's study-to-study registration
    assert pyramid_levels(full, 1.0) == [(4, 3.0), (2, 1.5), (1, 0.0)]
