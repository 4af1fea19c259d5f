"""Reorientation to RAS+ voxel order: a pure permutation and flip of the array, exactly invertible.

The affine is updated so every voxel keeps its world position; nothing is interpolated.
"""

from __future__ import annotations

from typing import TypeVar

import nibabel as nib
import numpy as np

from lesionwatch.io.volume import LabelVolume, Volume

ImageT = TypeVar("ImageT", Volume, LabelVolume)


def reorient_to_ras(image: ImageT) -> ImageT:
    """Return `image` with its voxel axes permuted and flipped to point R, A, S (closest canonical).

    Args:
        image: any 3D image.

    Returns:
        An image of the same type holding the same voxels in world space; header is dropped.
    """
    ornt = nib.orientations.io_orientation(image.affine)
    if np.array_equal(ornt, [[0, 1], [1, 1], [2, 1]]):
        return image
    array = nib.orientations.apply_orientation(image.array, ornt)
    affine = image.affine @ nib.orientations.inv_ornt_aff(ornt, image.shape)
    return type(image)(np.ascontiguousarray(array), affine)


def restore_orientation(image: ImageT, reference: Volume | LabelVolume) -> ImageT:
    """Undo `reorient_to_ras`: put a RAS-ordered image back into `reference`'s voxel order and header.

    Raises:
        ValueError: `image` is not the reoriented grid of `reference`.
    """
    ornt = nib.orientations.io_orientation(reference.affine)
    back = nib.orientations.ornt_transform([[0, 1], [1, 1], [2, 1]], ornt)
    array = nib.orientations.apply_orientation(image.array, back)
    if array.shape != reference.shape:
        raise ValueError(f"cannot restore orientation: shape {array.shape} is not {reference.shape}")
    expected_affine = reference.affine @ nib.orientations.inv_ornt_aff(ornt, reference.shape)
    if not np.allclose(expected_affine, image.affine, atol=1e-4):
        raise ValueError("cannot restore orientation: the image is not on the reference's RAS grid")
    return type(image)(np.ascontiguousarray(array), reference.affine, reference.header)
