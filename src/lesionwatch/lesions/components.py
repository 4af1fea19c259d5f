"""Connected lesion components (26-connectivity, the convention of MS lesion counting)."""

from __future__ import annotations

import cc3d
import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lesionwatch.io.volume import LabelVolume, Volume


def label_lesions(mask: npt.NDArray[np.bool_] | npt.NDArray[np.integer], connectivity: int = 26
                  ) -> tuple[npt.NDArray[np.int32], int]:
    """Label the connected components of a binary mask.

    Args:
        mask: 3D array, non-zero = lesion.
        connectivity: 6, 18 or 26.

    Returns:
        (labels int32 array with 1..n, n).
    """
    binary = np.ascontiguousarray(np.asarray(mask) != 0, dtype=np.uint8)
    labels, n = cc3d.connected_components(binary, connectivity=connectivity, return_N=True)  # type: ignore[call-overload]
    return labels.astype(np.int32, copy=False), int(n)


def component_sizes(labels: npt.NDArray[np.int32], n: int) -> npt.NDArray[np.int64]:
    """Voxel count of components 1..n (index 0 of the result is component 1)."""
    return np.bincount(labels.ravel(), minlength=n + 1)[1:]


def remove_small_lesions(mask: npt.NDArray[np.bool_], voxel_volume_mm3: float, min_volume_mm3: float
                         ) -> npt.NDArray[np.bool_]:
    """Drop components smaller than `min_volume_mm3`."""
    if min_volume_mm3 <= 0:
        return np.asarray(mask != 0)
    labels, n = label_lesions(mask)
    if n == 0:
        return np.zeros(mask.shape, bool)
    keep = np.concatenate([[False], component_sizes(labels, n) * voxel_volume_mm3 >= min_volume_mm3])
    return np.asarray(keep[labels])


def lesion_mask(probability: Volume, threshold: float, min_volume_mm3: float) -> LabelVolume:
    """The binary lesion mask of a probability map: voxels at or above `threshold`, without components smaller
    than `min_volume_mm3` (how `lesionwatch segment` and the accuracy benchmark's sweep binarise alike)."""
    kept = remove_small_lesions(probability.array >= threshold, probability.voxel_volume_mm3, min_volume_mm3)
    return probability.as_labels(kept.astype(np.uint8))


def grow_lesions(mask: LabelVolume, region: LabelVolume) -> LabelVolume:
    """Grow each lesion of `mask` over the voxels of `region` connected to it (26-connectivity).

    Every voxel of `mask` stays; a component of `region` joins only where it touches a lesion, so growth never
    adds a lesion, it can only enlarge lesions (and join lesions that one region component connects).
    """
    if mask.shape != region.shape:
        raise ValueError(f"lesion mask {mask.shape} and growth region {region.shape} differ in shape")
    seeds = mask.mask
    labels, _ = label_lesions(seeds | region.mask)
    touched = np.unique(labels[seeds])
    return mask.with_array(np.isin(labels, touched[touched > 0]).astype(np.uint8))


def faint_lesions(mask: LabelVolume, flair: Volume, brain_mask: LabelVolume, min_contrast: float,
                  max_volume_mm3: float, shell_mm: float = 2.0) -> npt.NDArray[np.bool_]:
    """The small lesions of `mask` that do not stand out from the tissue around them.

    A lesion is a focal hyperintensity; a small component whose FLAIR is barely above its surroundings is more often
    diffusely bright white matter, a vessel or partial volume than a lesion. A lesion of at most `max_volume_mm3` is
    found when the median of `flair` over it exceeds the median over the brain voxels within `shell_mm` outside it
    (other lesions left out) by less than `min_contrast`. Larger lesions are never found: confluent lesions border
    each other and the ventricles, and their surroundings say little.

    Args:
        mask: binary lesion mask.
        flair: FLAIR normalised to a robust z-score inside the brain (`normalize_intensity`), same grid as `mask`,
            so the contrast is in robust SDs of the brain's FLAIR.
        brain_mask: brain mask, same grid.
        min_contrast: least median-inside minus median-around a small lesion must reach.
        max_volume_mm3: lesions above this volume are left alone.
        shell_mm: thickness of the surrounding shell (world distance, so thick slices count in mm).

    Returns:
        Boolean array, True on the voxels of the lesions found. A lesion without brain voxels around it is kept.
    """
    for name, image in (("FLAIR", flair), ("brain mask", brain_mask)):
        if image.shape != mask.shape:
            raise ValueError(f"lesion mask {mask.shape} and {name} {image.shape} differ in shape")
    labels, n = label_lesions(mask.mask)
    found = np.zeros(n + 1, bool)
    sizes_mm3 = component_sizes(labels, n) * mask.voxel_volume_mm3
    spacing = np.asarray(mask.spacing_mm)
    margin = np.ceil(shell_mm / spacing).astype(int) + 1
    z = flair.array
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None or sizes_mm3[i - 1] > max_volume_mm3:
            continue
        box = tuple(slice(max(s.start - m, 0), s.stop + m) for s, m in zip(box, margin, strict=True))
        lesion = labels[box] == i
        depth = ndimage.distance_transform_edt(~lesion, sampling=spacing)
        around = (depth > 0) & (depth <= shell_mm) & brain_mask.mask[box] & (labels[box] == 0)
        if around.any():
            found[i] = float(np.median(z[box][lesion]) - np.median(z[box][around])) < min_contrast
    return np.asarray(found[labels])
