"""Patch sampling and augmentation aimed at scans the model has never seen.

Per patch: left-right flip; per-channel contrast scale, shift and gamma-like warp; Gaussian noise; a smooth
multiplicative bias; simulated thick-slice 2D acquisition (blur and subsample along one axis, then back);
T1 channel dropout (so one model serves FLAIR alone); and synthetic lesions: real lesion shapes from other cases
pasted into the brain with intensities drawn from the real lesions' own distribution (lesion mixing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lesionwatch.lesions.components import label_lesions
from lesionwatch.training.data import PreparedCase


@dataclass(frozen=True)
class AugmentationConfig:
    """Probabilities and ranges of each augmentation."""

    patch_size: tuple[int, int, int] = (48, 48, 48)
    lesion_centred_fraction: float = 0.6
    p_flip: float = 0.5
    p_contrast: float = 0.8
    p_noise: float = 0.3
    p_bias: float = 0.3
    p_thick_slices: float = 0.25
    p_drop_t1: float = 0.3
    p_synthetic_lesions: float = 0.3


def lesion_shape_bank(cases: list[PreparedCase], max_shapes: int = 400) -> list[npt.NDArray[np.bool_]]:
    """Cropped single-lesion masks from the training cases' labels (for lesion mixing)."""
    shapes = []
    for case in cases:
        labels, n = label_lesions(case.label)
        for sl, lab in zip(ndimage.find_objects(labels), range(1, n + 1), strict=True):
            if sl is None:
                continue
            crop = labels[sl] == lab
            if 3 <= crop.sum() <= 4000:
                shapes.append(crop)
    return shapes[:max_shapes] if len(shapes) > max_shapes else shapes


def _crop(case: PreparedCase, centre: npt.NDArray[np.intp], patch: tuple[int, int, int]
          ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    shape = np.array(case.label.shape)
    p = np.array(patch)
    lo = np.clip(centre - p // 2, 0, np.maximum(shape - p, 0))
    sl = tuple(slice(int(a), int(a) + int(b)) for a, b in zip(lo, p, strict=True))
    img, lab, brain = case.channels[(slice(None), *sl)], case.label[sl], case.brain[sl]
    pad = [(0, int(b) - s) for s, b in zip(lab.shape, p, strict=True)]
    if any(x[1] > 0 for x in pad):
        img = np.pad(img, [(0, 0), *pad])
        lab = np.pad(lab, pad)
        brain = np.pad(brain, pad)
    return img.copy(), lab.copy(), brain.copy()


def sample_patch(case: PreparedCase, rng: np.random.Generator, config: AugmentationConfig,
                 shapes: list[npt.NDArray[np.bool_]]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """One augmented (channels, x, y, z) patch and its (1, x, y, z) label."""
    pool = case.label if case.label.any() and rng.random() < config.lesion_centred_fraction else case.brain
    idx = np.flatnonzero(pool)
    centre = np.array(np.unravel_index(idx[int(rng.integers(len(idx)))], pool.shape))
    img, lab, brain = _crop(case, centre, config.patch_size)
    if shapes and rng.random() < config.p_synthetic_lesions:
        img, lab = _insert_lesions(img, lab, brain, rng, shapes)
    if rng.random() < config.p_flip:
        img, lab = img[:, ::-1], lab[::-1]
    img = np.ascontiguousarray(img)
    for c in range(img.shape[0]):
        img[c] = _augment_channel(img[c], brain, rng, config)
    if img.shape[0] > 1 and rng.random() < config.p_drop_t1:
        img[1:] = 0.0
    return img.astype(np.float32), np.ascontiguousarray(lab[None]).astype(np.float32)


def _augment_channel(x: npt.NDArray[np.float32], brain: npt.NDArray[np.bool_], rng: np.random.Generator,
                     config: AugmentationConfig) -> npt.NDArray[np.float32]:
    if rng.random() < config.p_contrast:
        x = (x * rng.uniform(0.8, 1.25) + rng.uniform(-0.3, 0.3)).astype(np.float32)
        x = (np.sign(x) * np.abs(x) ** rng.uniform(0.85, 1.15)).astype(np.float32)
    if rng.random() < config.p_bias:
        coarse = rng.normal(0, 0.15, (3, 3, 3))
        field = ndimage.zoom(coarse, np.array(x.shape) / 3.0, order=1)[: x.shape[0], : x.shape[1], : x.shape[2]]
        x = (x * np.exp(field)).astype(np.float32)
    if rng.random() < config.p_thick_slices:
        axis = int(rng.integers(3))
        factor = float(rng.uniform(3.0, 5.0))
        sigma = [0.0, 0.0, 0.0]
        sigma[axis] = factor / 2.355
        blurred = ndimage.gaussian_filter(x, sigma)
        zoom = [1.0, 1.0, 1.0]
        zoom[axis] = 1.0 / factor
        small = ndimage.zoom(blurred, zoom, order=1)
        back = ndimage.zoom(small, np.array(x.shape) / np.array(small.shape), order=1)
        x = back[: x.shape[0], : x.shape[1], : x.shape[2]].astype(np.float32)
    if rng.random() < config.p_noise:
        x = (x + rng.normal(0, rng.uniform(0.02, 0.15), x.shape)).astype(np.float32)
    return np.where(brain, x, 0.0).astype(np.float32)


def _insert_lesions(img: npt.NDArray[np.float32], lab: npt.NDArray[np.uint8], brain: npt.NDArray[np.bool_],
                    rng: np.random.Generator, shapes: list[npt.NDArray[np.bool_]]
                    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """Paste 1-4 real lesion shapes into white-matter-like brain voxels with real-lesion intensities."""
    if lab.any():
        lesion_flair = img[0][lab > 0]
        flair_lo, flair_hi = np.percentile(lesion_flair, [25, 75])
    else:
        flair_lo, flair_hi = 2.0, 3.5
    core = ndimage.binary_erosion(brain, iterations=4)
    candidates = np.argwhere(core & (np.abs(img[0]) < 1.0))
    if len(candidates) == 0:
        return img, lab
    for _ in range(int(rng.integers(1, 5))):
        shape = shapes[int(rng.integers(len(shapes)))]
        centre = candidates[int(rng.integers(len(candidates)))]
        lo = np.maximum(centre - np.array(shape.shape) // 2, 0)
        hi = np.minimum(lo + np.array(shape.shape), lab.shape)
        sub = shape[: hi[0] - lo[0], : hi[1] - lo[1], : hi[2] - lo[2]]
        sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        region = sub & core[sl]
        if not region.any():
            continue
        soft = np.clip(ndimage.gaussian_filter(region.astype(np.float32), 0.7), 0, 1)
        soft = np.maximum(soft, region * 0.9)
        target = rng.uniform(flair_lo, flair_hi)
        img[0][sl] = (1 - soft) * img[0][sl] + soft * target
        if img.shape[0] > 1:
            img[1][sl] = (1 - soft) * img[1][sl] + soft * rng.uniform(-1.5, 0.0)
        lab[sl][region] = 1
    return img, lab
