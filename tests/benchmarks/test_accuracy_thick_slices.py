"""The accuracy benchmark's thick-slice re-acquisition: slice axis, spacing, world position and slice profile."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import nibabel as nib
import numpy as np
import pytest


def test_thick_slices_keep_the_world_and_blur_along_the_head_axis(
        tmp_path: Path, load_benchmark: Callable[[str], ModuleType]) -> None:
    bench = load_benchmark("accuracy")
    # LAS-like 1 mm grid whose *second* voxel axis runs inferior-superior (a coronal-stored scan)
    affine = np.array([[-1.0, 0, 0, 90], [0, 0, 1, -126], [0, 1, 0, -72], [0, 0, 0, 1]])
    data = np.zeros((20, 40, 30), np.float32)
    data[:, 19:21, :] = 100.0  # a 2 mm thick bright plate across the superior axis
    data[5, :, 7] = 50.0  # a line along the superior axis
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "in.nii.gz")

    out = bench.thick_slices(tmp_path / "in.nii.gz", tmp_path / "x" / "thick.nii.gz", 4.0)

    img = nib.load(out)
    thick = np.asarray(img.dataobj)
    assert thick.shape == (20, 10, 30)  # 40 mm kept as ten 4 mm slices; the other axes untouched
    assert np.allclose(nib.affines.voxel_sizes(img.affine), [1, 4, 1])
    assert nib.aff2axcodes(img.affine) == nib.aff2axcodes(affine)
    # slice k's centre sits at original voxel 1.5 + 4k: the same world point as in the input
    world = img.affine @ [0, 2, 0, 1]
    assert np.allclose(world, affine @ [0, 9.5, 0, 1])
    # the plate is spread over its slices (profile blur), not kept at full height nor lost
    plate = thick[10, :, 15]
    assert 10 < plate.max() < 100 and plate.argmax() in (4, 5)
    assert np.allclose(thick[5, :, 7], 50.0, atol=1.0)  # constant along z: unchanged by blur and resampling


def test_thick_slices_refuse_slices_no_thicker_than_the_scan(
        tmp_path: Path, load_benchmark: Callable[[str], ModuleType]) -> None:
    bench = load_benchmark("accuracy")
    scan = np.arange(512, dtype=np.float32).reshape(8, 8, 8)
    nib.save(nib.Nifti1Image(scan, np.diag([1.0, 1.0, 3.0, 1.0])), tmp_path / "a.nii.gz")
    with pytest.raises(ValueError, match=r"a\.nii\.gz.*not thicker"):
        bench.thick_slices(tmp_path / "a.nii.gz", tmp_path / "b.nii.gz", 2.0)
