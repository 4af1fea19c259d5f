from __future__ import annotations

import numpy as np
import pytest

from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.preprocessing.reorientation import reorient_to_ras, restore_orientation
from lesionwatch.preprocessing.resampling import (
    Grid,
    WorkingGridConfig,
    acquire_slices,
    resample,
    restore_native,
    slice_profile_sigma,
    working_grid,
)


def test_reorientation_is_exactly_invertible(blob_volume: Volume) -> None:
    ras = reorient_to_ras(blob_volume)
    assert ras.orientation == "RAS"
    # the same voxel keeps its world position
    i, j, k = 3, 5, 7
    world = blob_volume.affine @ [i, j, k, 1]
    ras_idx = np.linalg.solve(ras.affine, world)[:3].round().astype(int)
    assert ras.array[tuple(ras_idx)] == blob_volume.array[i, j, k]
    back = restore_orientation(ras, blob_volume)
    np.testing.assert_array_equal(back.array, blob_volume.array)
    np.testing.assert_allclose(back.affine, blob_volume.affine)


def test_labels_resample_by_nearest_neighbour(blob_volume: Volume) -> None:
    labels = blob_volume.as_labels((blob_volume.array > 50).astype(np.uint8) * 3)
    target = Grid((20, 20, 20), np.diag([1.7, 1.7, 1.7, 1.0]) @ np.eye(4))
    moved = resample(labels, target)
    assert isinstance(moved, LabelVolume)
    assert set(np.unique(moved.array)) <= {0, 3}


def test_working_grid_round_trip_restores_native_mask(blob_volume: Volume) -> None:
    mask = blob_volume.as_labels((blob_volume.array > 50).astype(np.uint8))
    grid = working_grid(mask, WorkingGridConfig(spacing_mm=0.5, margin_mm=4.0))
    assert grid.spacing_mm == pytest.approx((0.5, 0.5, 0.5))
    on_working = resample(mask, grid)
    back = restore_native(on_working, blob_volume)
    assert back.header is blob_volume.header
    np.testing.assert_allclose(back.affine, blob_volume.affine)
    agreement = (back.array == mask.array).mean()
    assert agreement > 0.995


def test_resampling_onto_the_same_grid_is_identity(blob_volume: Volume) -> None:
    same = resample(blob_volume, Grid.of(blob_volume))
    np.testing.assert_array_equal(same.array, blob_volume.array)


def test_world_transform_moves_content(blob_volume: Volume) -> None:
    shift = np.eye(4)
    shift[:3, 3] = [2.0, 0.0, 0.0]  # target world point x samples source at x + 2 mm
    ras = Volume(blob_volume.array, np.diag([1.0, 1.2, 2.0, 1.0]))
    moved = resample(ras, Grid.of(ras), world_transform=shift, order=0)
    step = 2
    np.testing.assert_allclose(moved.array[5:-5, :, :], ras.array[5 + step:-5 + step, :, :])


@pytest.mark.parametrize("order", [0, 1, 3])
def test_resampling_in_parallel_slabs_equals_one_call(order: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    image = Volume(rng.random((40, 36, 30), dtype=np.float32), np.diag([1.1, 0.9, 1.3, 1.0]))
    labels = image.as_labels((image.array * 5).astype(np.uint8))
    turn = np.eye(4)
    angle = np.deg2rad(9.0)
    turn[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    turn[:3, 3] = [0.7, -1.3, 0.4]
    target = Grid((67, 33, 29), np.diag([0.6, 1.0, 1.0, 1.0]))
    expected = ndimage_reference(image.array, target, image.affine, turn, order)
    for threads in ("1", "3", "8"):  # 8 threads on 67 planes: 4 slabs of at least 16 (the rest uneven)
        monkeypatch.setenv("LESIONWATCH_THREADS", threads)
        moved = resample(image, target, world_transform=turn, order=order)
        np.testing.assert_array_equal(moved.array, expected)
        moved_labels = resample(labels, target, world_transform=turn)
        assert moved_labels.array.dtype == np.uint8
        np.testing.assert_array_equal(moved_labels.array, ndimage_reference(labels.array, target, labels.affine,
                                                                            turn, 0))


def ndimage_reference(array: np.ndarray, target: Grid, affine: np.ndarray, world: np.ndarray, order: int
                      ) -> np.ndarray:
    """The whole resampling in one scipy call, for comparison."""
    from scipy import ndimage

    m = np.linalg.inv(affine) @ world @ target.affine
    src = ndimage.spline_filter(array, order=order, output=np.float32) if order > 1 else array
    return ndimage.affine_transform(src, m[:3, :3], m[:3, 3], output_shape=target.shape, order=order,
                                    mode="constant", cval=0.0, prefilter=False,
                                    output=np.float32 if array.dtype == np.float32 else array.dtype)


def test_cpu_threads_reads_lesionwatch_threads_then_omp_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from lesionwatch.paths import cpu_threads

    monkeypatch.setenv("LESIONWATCH_THREADS", "3")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpu_threads() == 3
    monkeypatch.delenv("LESIONWATCH_THREADS")
    assert cpu_threads() == 1  # a job run beside others (the cross-validation folds) keeps to its share
    for value in ("", "0", "many"):
        monkeypatch.setenv("OMP_NUM_THREADS", value)
        assert cpu_threads() == len(os.sched_getaffinity(0))


def test_acquired_slices_keep_the_world_and_blur_only_the_slice_axis() -> None:
    affine = np.diag([0.8, 0.8, 1.0, 1.0])
    affine[:3, 3] = [10.0, -20.0, 5.0]
    data = np.zeros((12, 12, 40), np.float32)
    data[:, :, 19:21] = 100.0  # a 2 mm plate across the slice axis
    data[4, 6, :] = 50.0  # constant along the slice axis
    thick = acquire_slices(Volume(data, affine), 2, 4.0)
    assert thick.shape == (12, 12, 10)
    np.testing.assert_allclose(thick.spacing_mm, (0.8, 0.8, 4.0))
    # slice k is centred on input voxel 1.5 + 4k: the same world point
    np.testing.assert_allclose(thick.affine @ [0, 0, 2, 1], affine @ [0, 0, 9.5, 1])
    plate = thick.array[0, 0]
    assert 10 < plate.max() < 100 and plate.argmax() in (4, 5)  # spread over its slices, neither kept nor lost
    np.testing.assert_allclose(thick.array[4, 6], 50.0, atol=1.0)
    with pytest.raises(ValueError, match="thinner"):
        acquire_slices(Volume(data, affine), 0, 0.5)


def test_slice_profile_adds_only_the_blur_the_voxels_lack() -> None:
    assert slice_profile_sigma(1.0, 1.0) == 0.0
    assert slice_profile_sigma(0.5, 1.0) == 0.0
    # 5 mm slices from 3 mm voxels: a 4 mm FWHM profile, in voxels of 3 mm
    assert slice_profile_sigma(5.0, 3.0) == pytest.approx(4.0 / 2.355 / 3.0)
