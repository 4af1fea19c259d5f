from __future__ import annotations

import numpy as np
import pytest

from lesionwatch.io.volume import LabelVolume, Volume


def test_spacing_and_orientation_come_from_the_affine() -> None:
    affine = np.diag([-0.5, 2.0, 3.0, 1.0])
    vol = Volume(np.zeros((2, 3, 4)), affine)
    assert vol.spacing_mm == pytest.approx((0.5, 2.0, 3.0))
    assert vol.orientation == "LAS"
    assert vol.voxel_volume_mm3 == pytest.approx(3.0)


def test_label_volume_refuses_fractions() -> None:
    with pytest.raises(ValueError, match="whole numbers"):
        LabelVolume(np.full((2, 2, 2), 0.5), np.eye(4))


def test_label_volume_measures_volume() -> None:
    arr = np.zeros((4, 4, 4), bool)
    arr[:2, :2, :2] = True
    assert LabelVolume(arr, np.diag([2.0, 2.0, 2.0, 1.0])).volume_mm3 == pytest.approx(64.0)
