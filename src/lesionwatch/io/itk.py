"""Bridges between lesionwatch images (RAS+) and SimpleITK (LPS+), for images and transforms.

ITK stores arrays z-first and physical points in LPS; lesionwatch stores arrays i-first and world points in RAS.
These functions are the only place the two conventions meet.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk

from lesionwatch.io.volume import LabelVolume, Volume

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _affine_to_itk_geometry(affine: npt.NDArray[np.float64]) -> tuple[list[float], list[float], list[float]]:
    lps = _RAS_TO_LPS @ affine
    spacing = np.sqrt((lps[:3, :3] ** 2).sum(axis=0))
    direction = lps[:3, :3] / spacing
    return [float(s) for s in spacing], [float(o) for o in lps[:3, 3]], [float(d) for d in direction.ravel()]


def to_sitk(image: Volume | LabelVolume) -> sitk.Image:
    """Convert to a SimpleITK image (float32 for Volume, uint8/int32 for labels) with the same geometry."""
    out = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(image.array, (2, 1, 0))))
    spacing, origin, direction = _affine_to_itk_geometry(image.affine)
    out.SetSpacing(spacing)
    out.SetOrigin(origin)
    out.SetDirection(direction)
    return out


def itk_affine(image: sitk.Image) -> npt.NDArray[np.float64]:
    """The voxel-to-RAS+ 4x4 affine of a SimpleITK image."""
    direction = np.array(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    spacing = np.array(image.GetSpacing(), dtype=np.float64)
    lps = np.eye(4)
    lps[:3, :3] = direction * spacing
    lps[:3, 3] = image.GetOrigin()
    return _RAS_TO_LPS @ lps


def from_sitk(image: sitk.Image) -> Volume:
    """Convert a 3D SimpleITK image to a Volume (float32)."""
    array = np.transpose(sitk.GetArrayFromImage(image), (2, 1, 0)).astype(np.float32)
    return Volume(array, itk_affine(image))


def ras_matrix_from_itk(transform: sitk.Transform) -> npt.NDArray[np.float64]:
    """4x4 RAS+ world matrix of a linear ITK transform (which maps LPS fixed points to LPS moving points)."""
    tx = transform
    dim = tx.GetDimension()
    if dim != 3:
        raise ValueError(f"expected a 3D transform, got {dim}D")
    # Any linear ITK transform is fully described by where it sends the origin and the three unit vectors.
    origin = np.array(tx.TransformPoint((0.0, 0.0, 0.0)))
    cols = [np.array(tx.TransformPoint(tuple(float(v) for v in e))) - origin for e in np.eye(3)]
    lps = np.eye(4)
    lps[:3, :3] = np.stack(cols, axis=1)
    lps[:3, 3] = origin
    return _RAS_TO_LPS @ lps @ _RAS_TO_LPS
