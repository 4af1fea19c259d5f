"""The two image types of lesionwatch: `Volume` (intensities) and `LabelVolume` (labels).

Both carry a 3D array indexed (i, j, k) and a 4x4 affine that maps voxel indices to RAS+ world coordinates in
millimetres. Spacing and orientation are derived from the affine, never stored twice. Interpolation follows from
the type: intensities are resampled linearly, labels by nearest neighbour (see `preprocessing.resampling`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt


def _check_affine(affine: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got shape {affine.shape}")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise ValueError("affine is singular: voxel axes collapse onto each other")
    return affine


@dataclass(frozen=True)
class _Image:
    """Array plus affine; shared behaviour of `Volume` and `LabelVolume`."""

    array: npt.NDArray[Any]
    affine: npt.NDArray[np.float64]
    header: nib.Nifti1Header | None = field(default=None, compare=False, repr=False)
    """The NIfTI header the image was read with, kept so results in the native grid reuse it."""

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.array.shape
        return (int(s[0]), int(s[1]), int(s[2]))

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel size along i, j, k in mm."""
        sp = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return (float(sp[0]), float(sp[1]), float(sp[2]))

    @property
    def voxel_volume_mm3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    @property
    def orientation(self) -> str:
        """Axis codes such as "RAS" or "LPI": the world direction each voxel axis points to."""
        return "".join(nib.orientations.aff2axcodes(self.affine))

    def world_corners_mm(self) -> npt.NDArray[np.float64]:
        """The 8 corners of the field of view in world mm, shape (8, 3)."""
        n = np.array(self.shape) - 1
        corners = np.array([[i, j, k] for i in (0, n[0]) for j in (0, n[1]) for k in (0, n[2])], dtype=float)
        return corners @ self.affine[:3, :3].T + self.affine[:3, 3]

    def same_grid(self, other: _Image, atol: float = 1e-4) -> bool:
        """True when both images sample the same voxels of world space."""
        return self.shape == other.shape and bool(np.allclose(self.affine, other.affine, atol=atol))


@dataclass(frozen=True)
class Volume(_Image):
    """An intensity image: float32 array (i, j, k) and a voxel-to-RAS+ affine in mm."""

    def __post_init__(self) -> None:
        arr = np.asarray(self.array, dtype=np.float32)
        if arr.ndim != 3:
            raise ValueError(f"a Volume is 3D, got an array of shape {arr.shape}")
        object.__setattr__(self, "array", arr)
        object.__setattr__(self, "affine", _check_affine(self.affine))

    def with_array(self, array: npt.ArrayLike) -> Volume:
        """A new Volume on the same grid (and header) holding `array`."""
        return Volume(np.asarray(array, dtype=np.float32), self.affine, self.header)

    def as_labels(self, array: npt.ArrayLike) -> LabelVolume:
        """A LabelVolume on this grid holding `array`."""
        return LabelVolume(np.asarray(array), self.affine, self.header)


@dataclass(frozen=True)
class LabelVolume(_Image):
    """A label image (mask or label map): integer array (i, j, k) and a voxel-to-RAS+ affine in mm."""

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.ndim != 3:
            raise ValueError(f"a LabelVolume is 3D, got an array of shape {arr.shape}")
        if arr.dtype == bool:
            arr = arr.astype(np.uint8)
        elif not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                raise ValueError("a LabelVolume holds whole numbers; threshold probabilities first")
            arr = arr.astype(np.int32 if arr.max(initial=0) > 255 or arr.min(initial=0) < 0 else np.uint8)
        object.__setattr__(self, "array", arr)
        object.__setattr__(self, "affine", _check_affine(self.affine))

    def with_array(self, array: npt.ArrayLike) -> LabelVolume:
        """A new LabelVolume on the same grid (and header) holding `array`."""
        return LabelVolume(np.asarray(array), self.affine, self.header)

    @property
    def mask(self) -> npt.NDArray[np.bool_]:
        """Boolean array, True where the label is non-zero."""
        return np.asarray(self.array != 0)

    @property
    def volume_mm3(self) -> float:
        """Volume of the non-zero voxels in mm³."""
        return float(np.count_nonzero(self.array)) * self.voxel_volume_mm3
