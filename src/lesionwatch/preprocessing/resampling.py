"""Resampling between grids through world coordinates, and the working grid of the pipeline.

Every resampling maps each target voxel to world space (RAS+ mm) through the target affine, optionally through a
world-space transform, then into the source's voxel indices through the inverse source affine. Intensities are
interpolated linearly (or with cubic B-splines); labels by nearest neighbour, decided by the image type. Because
the mapping is defined by affines only, moving results from the working grid back to the native grid is the
exact inverse of moving the input there: no accumulated header drift, no hand-made flips.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.paths import cpu_threads


@dataclass(frozen=True)
class Grid:
    """A sampling grid: shape (i, j, k) and voxel-to-RAS+ affine in mm."""

    shape: tuple[int, int, int]
    affine: npt.NDArray[np.float64]

    @classmethod
    def of(cls, image: Volume | LabelVolume) -> Grid:
        return cls(image.shape, image.affine)

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        sp = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return (float(sp[0]), float(sp[1]), float(sp[2]))


@dataclass(frozen=True)
class WorkingGridConfig:
    """Configuration of the working grid the network sees.

    Attributes:
        spacing_mm: isotropic voxel size of the working grid.
        margin_mm: margin kept around the brain mask's bounding box.
    """

    spacing_mm: float = 1.0
    margin_mm: float = 8.0


def working_grid(brain_mask: LabelVolume, config: WorkingGridConfig,
                 world_transform: npt.NDArray[np.float64] | None = None) -> Grid:
    """An axis-aligned RAS+ grid with isotropic spacing that covers the brain mask plus a margin.

    Args:
        brain_mask: brain mask in any grid.
        config: spacing and margin.
        world_transform: optional 4x4 matrix taking the mask's world points into the space the grid lives in
            (e.g. a study's brain carried into a follow-up's common space).

    Returns:
        Grid whose axes point to R, A, S, sized to the mask's (transformed) world bounding box.
    """
    idx = np.argwhere(brain_mask.mask)
    if idx.size == 0:  # no brain: cover the whole field of view
        idx = np.array([[0, 0, 0], np.array(brain_mask.shape) - 1])
    lo_i, hi_i = idx.min(axis=0), idx.max(axis=0)
    corners = np.array([[a, b, c] for a in (lo_i[0], hi_i[0]) for b in (lo_i[1], hi_i[1])
                        for c in (lo_i[2], hi_i[2])], dtype=float)
    world = corners @ brain_mask.affine[:3, :3].T + brain_mask.affine[:3, 3]
    if world_transform is not None:
        world = world @ world_transform[:3, :3].T + world_transform[:3, 3]
    half_voxel = 0.5 * np.array(brain_mask.spacing_mm).max()
    lo = world.min(axis=0) - config.margin_mm - half_voxel
    hi = world.max(axis=0) + config.margin_mm + half_voxel
    s = float(config.spacing_mm)
    shape = tuple(int(np.ceil((h - low) / s)) + 1 for low, h in zip(lo, hi, strict=True))
    affine = np.diag([s, s, s, 1.0])
    affine[:3, 3] = lo
    return Grid((shape[0], shape[1], shape[2]), affine)


def _voxel_map(target: Grid, source_affine: npt.NDArray[np.float64],
               world_transform: npt.NDArray[np.float64] | None) -> npt.NDArray[np.float64]:
    """4x4 matrix from target voxel indices to source voxel indices."""
    vox_to_vox = np.linalg.inv(source_affine)
    if world_transform is not None:
        vox_to_vox = vox_to_vox @ world_transform
    return np.asarray(vox_to_vox @ target.affine, dtype=np.float64)


@overload
def resample(image: Volume, target: Grid, *, world_transform: npt.NDArray[np.float64] | None = ...,
             order: int = ..., fill_value: float = ...) -> Volume: ...
@overload
def resample(image: LabelVolume, target: Grid, *, world_transform: npt.NDArray[np.float64] | None = ...,
             order: int = ..., fill_value: float = ...) -> LabelVolume: ...
def resample(
    image: Volume | LabelVolume,
    target: Grid,
    *,
    world_transform: npt.NDArray[np.float64] | None = None,
    order: int = 1,
    fill_value: float = 0.0,
) -> Volume | LabelVolume:
    """Resample `image` onto `target`.

    Args:
        image: intensities (interpolated with spline `order`, 1 = linear) or labels (nearest neighbour).
        target: the output grid.
        world_transform: optional 4x4 matrix mapping target world points (RAS+ mm) to source world points,
            as a registration returns it.
        order: spline order for intensities (0-3); ignored for labels.
        fill_value: value outside the source field of view.

    Returns:
        An image of the same type on `target`; its header is dropped unless the grid is unchanged.
    """
    if world_transform is None and image.shape == target.shape and np.allclose(target.affine, image.affine,
                                                                               atol=1e-6):
        return image
    m = _voxel_map(target, image.affine, world_transform)
    if isinstance(image, LabelVolume):
        out = _affine_transform(image.array, m, target.shape, 0, fill_value)
        return LabelVolume(out.astype(image.array.dtype), target.affine)
    src = image.array
    if order > 1:
        src = ndimage.spline_filter(src, order=order, output=np.float32)
    return Volume(_affine_transform(src, m, target.shape, order, fill_value, np.float32), target.affine)


_MIN_SLAB = 16  # least output planes per slab: a small image is resampled in one call


def _affine_transform(src: npt.NDArray[np.generic], m: npt.NDArray[np.float64], shape: tuple[int, int, int],
                      order: int, fill_value: float, dtype: type | None = None) -> npt.NDArray[np.generic]:
    """`ndimage.affine_transform` of `src` by the voxel map `m` (target index -> source index) onto `shape`.

    The output is cut into slabs along its first axis, one per thread (`paths.cpu_threads`); scipy releases the
    GIL while it interpolates, so the slabs run in parallel, and each slab is exactly what the whole call would
    give there (slab `lo` starts at source coordinate `offset + m[:, 0] * lo`). It computes each source coordinate
    on the fly: no coordinate arrays, so little memory.
    """
    matrix, offset = m[:3, :3], m[:3, 3]
    out = np.empty(shape, dtype=dtype or src.dtype)
    bounds = np.linspace(0, shape[0], max(1, min(cpu_threads(), shape[0] // _MIN_SLAB)) + 1).astype(int)

    def slab(lo: int, hi: int) -> None:
        ndimage.affine_transform(src, matrix, offset + matrix[:, 0] * lo, output_shape=(hi - lo, *shape[1:]),
                                 order=order, mode="constant", cval=fill_value, prefilter=False, output=out[lo:hi])

    if len(bounds) == 2:
        slab(0, shape[0])
    else:
        with ThreadPoolExecutor(len(bounds) - 1) as pool:
            list(pool.map(slab, bounds[:-1], bounds[1:]))
    return out


def resample_probability_as_labels(probability: Volume, target: Grid, threshold: float) -> LabelVolume:
    """Resample a probability map linearly onto `target`, then threshold it; smoother than nearest neighbour."""
    moved = resample(probability, target, order=1)
    return LabelVolume((moved.array >= threshold).astype(np.uint8), target.affine)


def restore_native(image: Volume | LabelVolume, native: Volume | LabelVolume) -> Volume | LabelVolume:
    """Bring a working-grid image back onto the native grid of `native`, with `native`'s own header."""
    moved = resample(image, Grid.of(native))
    if isinstance(moved, LabelVolume):
        return LabelVolume(moved.array, native.affine, native.header)
    return Volume(moved.array, native.affine, native.header)


FWHM_PER_SIGMA = 2.355
"""Full width at half maximum of a Gaussian, in standard deviations."""


def slice_profile_sigma(thickness_mm: float, spacing_mm: float) -> float:
    """Gaussian sigma, in voxels of `spacing_mm`, that blurs voxels `spacing_mm` thick into slices `thickness_mm`
    thick: a profile of FWHM sqrt(thickness^2 - spacing^2), which with the voxels' own extent spans about one
    slice. 0 where the slices are no thicker than the voxels."""
    return float(np.sqrt(max(thickness_mm ** 2 - spacing_mm ** 2, 0.0)) / FWHM_PER_SIGMA / spacing_mm)


def acquire_slices(image: Volume, axis: int, thickness_mm: float) -> Volume:
    """`image` re-acquired as 2D slices `thickness_mm` thick along voxel `axis`, as a clinical 2D scan is.

    The axis is blurred by the slice profile (`slice_profile_sigma`) and sampled linearly every `thickness_mm`,
    the first slice centre half a slice in; the affine keeps the world position and orientation and gives the new
    spacing. The single simulator of thick-slice acquisition: the benchmarks' re-acquired scans, the training
    augmentation and the synthetic cases' slice profile all come from here.

    Args:
        image: any grid; `axis` 0-2 is the slice axis.
        thickness_mm: slice thickness (and spacing), at least the voxel spacing along `axis`.

    Returns:
        A Volume with `floor(extent / thickness)`-ish slices along `axis`; the other axes unchanged.

    Raises:
        ValueError: `thickness_mm` is thinner than the voxels along `axis`.
    """
    spacing = float(image.spacing_mm[axis])
    if thickness_mm < spacing - 1e-6:
        raise ValueError(f"slices of {thickness_mm} mm are thinner than the image's {spacing:.2f} mm voxels")
    sigma = [0.0, 0.0, 0.0]
    sigma[axis] = slice_profile_sigma(thickness_mm, spacing)
    blurred = ndimage.gaussian_filter(image.array.astype(np.float32), sigma) if sigma[axis] > 0 else image.array
    step = thickness_mm / spacing
    centres = np.arange(step / 2 - 0.5, image.shape[axis] - 0.5, step)
    affine = image.affine.copy()
    affine[:3, axis] *= step
    affine[:3, 3] = image.affine[:3, :3] @ np.eye(3)[axis] * centres[0] + image.affine[:3, 3]
    shape = list(image.shape)
    shape[axis] = len(centres)
    return resample(Volume(blurred.astype(np.float32), image.affine), Grid((shape[0], shape[1], shape[2]), affine),
                    order=1)
