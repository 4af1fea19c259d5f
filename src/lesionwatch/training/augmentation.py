"""Patch sampling and augmentation aimed at scans the model has never seen.

Per patch: left-right flip; per-channel contrast scale, shift and gamma-like warp; Gaussian noise; a smooth
multiplicative bias; simulated thick-slice 2D acquisition (`preprocessing.resampling.acquire_slices` along one
axis, then back); T1 channel dropout (so one model serves FLAIR alone); synthetic lesions: real lesion shapes from
other cases pasted into the brain with intensities drawn from the real lesions' own distribution (lesion mixing);
and lesion transplants: the whole lesion mask of another patient (same template space, no images needed) drawn into
this brain where it is tissue, not CSF, with per-lesion FLAIR/T1 intensities drawn from the training set's real
lesions, a partial-volume rim and a little texture. Transplants multiply the lesion patterns the model sees (how
many lesions, where, how big) while every image voxel around them stays real.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lesionwatch.io.volume import Volume
from lesionwatch.lesions.components import label_lesions
from lesionwatch.preprocessing.resampling import acquire_slices
from lesionwatch.training.data import PreparedCase


@dataclass(frozen=True)
class AugmentationConfig:
    """Probabilities and ranges of each augmentation.

    `lesion_centred_fraction` of patches are centred on a lesion voxel drawn uniformly, so a lesion is picked in
    proportion to its volume; `per_lesion_fraction` of those instead pick one of the case's lesions uniformly
    (each lesion equally often, small ones included) and then a voxel of it (needs `index_lesions`).
    `thick_slice_mm`: slice thickness range of the simulated 2D acquisition (working grid spacing 1 mm).
    `lesion_contrast`: when set, transplanted and pasted lesions take a FLAIR of the tissue under them times a
    ratio drawn log-uniformly from this range (1.1: barely visible; 2: very bright) and a T1 anywhere from the
    tissue's own (isointense) to CSF-dark (black hole), instead of the training cases' real lesion intensities,
    which cover only the bright lesions of a few scanners (`lesion_contrast_target`).
    `p_confluent` of patches get a confluent periventricular lesion band (`confluent_periventricular_lesions`).
    """

    patch_size: tuple[int, int, int] = (48, 48, 48)
    lesion_centred_fraction: float = 0.6
    p_flip: float = 0.5
    p_contrast: float = 0.8
    p_noise: float = 0.3
    p_bias: float = 0.3
    p_thick_slices: float = 0.35
    p_drop_t1: float = 0.3
    p_synthetic_lesions: float = 0.3
    p_transplant: float = 0.5
    p_field_of_view_cut: float = 0.15
    per_lesion_fraction: float = 0.0
    thick_slice_mm: tuple[float, float] = (3.0, 5.0)
    lesion_contrast: tuple[float, float] | None = None
    p_confluent: float = 0.0


@dataclass(frozen=True)
class LesionIntensities:
    """Ranges (10th-90th percentile, robust z units) of real lesion intensities in the training cases, pooled over
    every lesion voxel (so large bright lesions dominate them)."""

    flair: tuple[float, float] = (2.0, 3.5)
    t1: tuple[float, float] = (-1.5, 0.0)


def lesion_intensities(cases: list[PreparedCase]) -> LesionIntensities:
    """Pooled percentiles of the training cases' real lesion voxels (FLAIR, and T1 where present)."""
    flair = [c.channels[0][c.label > 0] for c in cases if c.label.any()]
    t1 = [c.channels[1][c.label > 0] for c in cases if c.label.any() and c.channels.shape[0] > 1
          and np.any(c.channels[1])]
    default = LesionIntensities()
    f = tuple(float(v) for v in np.percentile(np.concatenate(flair), [10, 90])) if flair else default.flair
    t = tuple(float(v) for v in np.percentile(np.concatenate(t1), [10, 90])) if t1 else default.t1
    return LesionIntensities((f[0], f[1]), (t[0], t[1]))


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


def index_lesions(cases: list[PreparedCase]) -> list[PreparedCase]:
    """The cases with their own lesions listed (flat voxel indices per 26-connected lesion)."""
    out = []
    for case in cases:
        labels, n = label_lesions(case.label)
        flat = labels.ravel()
        order = np.argsort(flat, kind="stable")
        bounds = np.searchsorted(flat[order], np.arange(1, n + 2))
        out.append(replace(case, lesions=tuple(order[bounds[i]:bounds[i + 1]].astype(np.int64) for i in range(n))))
    return out


def _patch_origin(shape: tuple[int, ...], centre: npt.NDArray[np.intp], patch: tuple[int, int, int]
                  ) -> npt.NDArray[np.intp]:
    """Corner of the patch around `centre`, kept inside the volume where it fits."""
    p = np.array(patch)
    return np.asarray(np.clip(centre - p // 2, 0, np.maximum(np.array(shape) - p, 0)))


def _crop(case: PreparedCase, centre: npt.NDArray[np.intp], patch: tuple[int, int, int]
          ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    p = np.array(patch)
    lo = _patch_origin(case.label.shape, centre, patch)
    sl = tuple(slice(int(a), int(a) + int(b)) for a, b in zip(lo, p, strict=True))
    img, lab, brain = case.channels[(slice(None), *sl)], case.label[sl], case.brain[sl]
    pad = [(0, int(b) - s) for s, b in zip(lab.shape, p, strict=True)]
    if any(x[1] > 0 for x in pad):
        img = np.pad(img, [(0, 0), *pad])
        lab = np.pad(lab, pad)
        brain = np.pad(brain, pad)
    return img.copy(), lab.copy(), brain.copy()


def sample_patch(case: PreparedCase, rng: np.random.Generator, config: AugmentationConfig,
                 shapes: list[npt.NDArray[np.bool_]], intensities: LesionIntensities | None = None
                 ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """One augmented (channels, x, y, z) patch and its (1, x, y, z) label."""
    transplant = (case.transplants[int(rng.integers(len(case.transplants)))]
                  if case.transplants and rng.random() < config.p_transplant else None)
    lesion_centred = rng.random() < config.lesion_centred_fraction
    if transplant is not None and lesion_centred:
        flat = int(transplant[int(rng.integers(len(transplant)))])
        centre = np.array(np.unravel_index(flat, case.label.shape))
    elif lesion_centred and case.lesions and config.per_lesion_fraction > 0 \
            and rng.random() < config.per_lesion_fraction:
        lesion = case.lesions[int(rng.integers(len(case.lesions)))]
        centre = np.array(np.unravel_index(int(lesion[int(rng.integers(len(lesion)))]), case.label.shape))
    else:
        pool = case.label if case.label.any() and lesion_centred else case.brain
        idx = np.flatnonzero(pool)
        centre = np.array(np.unravel_index(idx[int(rng.integers(len(idx)))], pool.shape))
    img, lab, brain = _crop(case, centre, config.patch_size)
    if transplant is not None:
        img, lab = transplant_lesions(img, lab, brain, _transplant_patch(case, transplant, centre,
                                                                         config.patch_size),
                                      rng, intensities or LesionIntensities(), contrast=config.lesion_contrast)
    if config.p_confluent > 0 and rng.random() < config.p_confluent:
        img, lab = confluent_periventricular_lesions(img, lab, brain, rng, config.lesion_contrast or (1.15, 1.6))
    if shapes and rng.random() < config.p_synthetic_lesions:
        img, lab = _insert_lesions(img, lab, brain, rng, shapes, contrast=config.lesion_contrast)
    if rng.random() < config.p_field_of_view_cut:
        img, lab, brain = cut_field_of_view(img, lab, brain, rng)
    if rng.random() < config.p_flip:
        img, lab = img[:, ::-1], lab[::-1]
    img = np.ascontiguousarray(img)
    for c in range(img.shape[0]):
        img[c] = _augment_channel(img[c], brain, rng, config)
    if img.shape[0] > 1 and rng.random() < config.p_drop_t1:
        img[1:] = 0.0
    return img.astype(np.float32), np.ascontiguousarray(lab[None]).astype(np.float32)


def cut_field_of_view(img: npt.NDArray[np.float32], lab: npt.NDArray[np.uint8], brain: npt.NDArray[np.bool_],
                      rng: np.random.Generator
                      ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """A scan whose field of view ends inside the brain: everything below (3 times in 4) or above an axial plane
    through the patch's brain is removed, as in clinical 2D FLAIR that cuts the cerebellum and brainstem at its
    lowest slice. Without it the network never sees brain ending at a flat edge; the models trained without it read
    the cut posterior fossa of a raw scan as lesion (lesjak_long patient01), the model trained with it (and on more
    patients) did not."""
    slices = np.flatnonzero(brain.any(axis=(0, 1)))
    if slices.size < 8:
        return img, lab, brain
    cut = int(rng.integers(slices[0] + 2, slices[-1] - 2))
    kept = np.zeros(brain.shape[2], bool)
    kept[cut:] = True
    if rng.random() >= 0.75:
        kept = ~kept
    return (img * kept).astype(np.float32), (lab * kept).astype(lab.dtype), brain & kept


def _thick_slices(x: npt.NDArray[np.float32], axis: int, thickness_mm: float) -> npt.NDArray[np.float32]:
    """A 1 mm patch acquired as 2D slices `thickness_mm` thick along `axis` (`acquire_slices`) and interpolated
    back onto its own grid, as the pipeline does with a clinical 2D scan; beyond the outer slice centres the outer
    slices are extended."""
    thick = acquire_slices(Volume(x, np.eye(4)), axis, thickness_mm).array
    # patch index i lies at slice index (i - first centre) / thickness
    scale = [1.0, 1.0, 1.0]
    offset = [0.0, 0.0, 0.0]
    scale[axis] = 1.0 / thickness_mm
    offset[axis] = -(thickness_mm / 2 - 0.5) / thickness_mm
    back = ndimage.affine_transform(thick, scale, offset, output_shape=x.shape, order=1, mode="nearest")
    return back.astype(np.float32)


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
        x = _thick_slices(x, int(rng.integers(3)), float(rng.uniform(*config.thick_slice_mm)))
    if rng.random() < config.p_noise:
        x = (x + rng.normal(0, rng.uniform(0.02, 0.15), x.shape)).astype(np.float32)
    return np.where(brain, x, 0.0).astype(np.float32)


def _transplant_patch(case: PreparedCase, transplant: npt.NDArray[np.int64], centre: npt.NDArray[np.intp],
                      patch: tuple[int, int, int]) -> npt.NDArray[np.bool_]:
    """The transplanted mask cropped exactly as `_crop` crops the case around `centre`."""
    p = np.array(patch)
    lo = _patch_origin(case.label.shape, centre, patch)
    coords = np.array(np.unravel_index(transplant, case.label.shape)).T - lo
    inside = np.all((coords >= 0) & (coords < p), axis=1)
    out = np.zeros(patch, bool)
    out[tuple(coords[inside].T)] = True
    return out


def transplant_lesions(img: npt.NDArray[np.float32], lab: npt.NDArray[np.uint8], brain: npt.NDArray[np.bool_],
                       mask: npt.NDArray[np.bool_], rng: np.random.Generator, intensities: LesionIntensities,
                       contrast: tuple[float, float] | None = None
                       ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """Draw another patient's lesions (`mask`, this patch's grid) into the patch; returns (image, label).

    Only tissue takes a lesion: voxels inside the eroded brain whose FLAIR is not CSF-dark. Each lesion gets its
    own FLAIR brightness (and T1 darkness) from the real lesions' range, with a soft partial-volume rim and a
    little smooth texture; FLAIR can only brighten and T1 only darken, so lesions already there are kept. With
    `contrast`, each lesion's brightness is instead a ratio to the tissue under it (`lesion_contrast_target`).
    """
    tissue = ndimage.binary_erosion(brain, iterations=2) & (img[0] > -0.5)
    region = mask & tissue
    if not region.any():
        return img, lab
    components, n = ndimage.label(region)
    flair_target = np.zeros(region.shape, np.float32)
    t1_target = np.zeros(region.shape, np.float32)
    values_f = rng.uniform(*intensities.flair, n + 1).astype(np.float32)
    values_t = rng.uniform(*intensities.t1, n + 1).astype(np.float32)
    flair_target[region] = values_f[components[region]]
    t1_target[region] = values_t[components[region]]
    if contrast is not None:
        flair_target, t1_target = lesion_contrast_target(img, components, n, rng, contrast)
    sigma = float(rng.uniform(0.7, 1.4))
    weight = ndimage.gaussian_filter(region.astype(np.float32), sigma)
    soft = np.clip(np.maximum(weight, region * 0.6), 0, 1) * tissue
    spread = np.maximum(weight, 1e-3)
    flair_target = ndimage.gaussian_filter(flair_target, sigma) / spread
    t1_target = ndimage.gaussian_filter(t1_target, sigma) / spread
    noise = ndimage.gaussian_filter(rng.normal(0, 1, region.shape).astype(np.float32), 1.0)
    texture = 1 + 0.08 * noise / max(float(noise.std()), 1e-6)
    img = img.copy()
    img[0] = np.maximum(img[0], (1 - soft) * img[0] + soft * flair_target * texture)
    if img.shape[0] > 1 and np.any(img[1]):
        img[1] = np.minimum(img[1], (1 - soft) * img[1] + soft * t1_target)
    lab = lab.copy()
    lab[region] = 1
    return img, lab


def _insert_lesions(img: npt.NDArray[np.float32], lab: npt.NDArray[np.uint8], brain: npt.NDArray[np.bool_],
                    rng: np.random.Generator, shapes: list[npt.NDArray[np.bool_]],
                    contrast: tuple[float, float] | None = None
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
        if contrast is None:
            target = rng.uniform(flair_lo, flair_hi)
            t1_value = rng.uniform(-1.5, 0.0)
        else:
            tissue = float(img[0][sl][region].mean())
            target = _brighter(tissue, _log_uniform(rng, contrast), float(rng.uniform(*RAW_OFFSET_Z)))
            t1_tissue = float(img[1][sl][region].mean()) if img.shape[0] > 1 else 0.0
            t1_value = _darker_t1(t1_tissue, rng.uniform(0.0, 1.0))
        img[0][sl] = (1 - soft) * img[0][sl] + soft * target
        if img.shape[0] > 1 and np.any(img[1]):
            img[1][sl] = (1 - soft) * img[1][sl] + soft * t1_value
        lab[sl][region] = 1
    return img, lab


RAW_OFFSET_Z = (4.0, 8.0)
"""Range of median / robust SD of a brain's raw FLAIR, which converts a ratio of raw intensities into robust-z
units: a raw intensity m + s z is r times brighter as z' = z + (r - 1)(z + m / s). Brain FLAIR has m / s of about 5-8
(white matter about 1, its robust SD about 0.13-0.2); drawn per lesion, so the exact value need not be known."""

T1_CSF_Z = -2.5
"""Robust-z T1 of CSF-dark tissue: the darkest a black-hole lesion gets."""


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def _brighter(z: Any, ratio: Any, offset: Any) -> Any:
    """Robust-z value of a raw intensity `ratio` times that of robust z `z` (see RAW_OFFSET_Z)."""
    return z + (ratio - 1.0) * np.maximum(z + offset, 1.0)


def _darker_t1(tissue: Any, darkness: Any) -> Any:
    """Lesion T1 between the tissue's own (darkness 0, isointense) and T1_CSF_Z (darkness 1, a black hole)."""
    return tissue + darkness * (T1_CSF_Z - tissue)


def _tissue_mean(x: npt.NDArray[np.float32], tissue: npt.NDArray[np.bool_], sigma: float = 1.5
                 ) -> npt.NDArray[np.float32]:
    """Local mean of `x` over `tissue` voxels only (normalised convolution), so CSF beside a periventricular
    lesion does not darken the tissue it is drawn relative to."""
    weight = tissue.astype(np.float32)
    spread = ndimage.gaussian_filter(weight, sigma)
    mean = ndimage.gaussian_filter(x * weight, sigma) / np.maximum(spread, 1e-3)
    return np.where(spread > 1e-3, mean, x).astype(np.float32)


def lesion_contrast_target(img: npt.NDArray[np.float32], components: npt.NDArray[np.int32], n: int,
                           rng: np.random.Generator, contrast: tuple[float, float]
                           ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Per-voxel FLAIR and T1 targets of `n` labelled lesions (`components`, 1..n) drawn relative to the tissue.

    Each lesion's FLAIR is the smoothed tissue under it times a ratio drawn log-uniformly from `contrast`
    (converted to robust z through a random RAW_OFFSET_Z), so a faint lesion (1.1-1.3 times its surroundings, as in
    heavy confluent periventricular disease) is as common as a bright one; its T1 lies anywhere between the tissue's
    own value (isointense) and T1_CSF_Z (a black hole). Returns (flair, t1), zero outside the lesions.
    """
    region = components > 0
    flair_tissue = _tissue_mean(img[0], img[0] > -1.0)
    ratios = np.exp(rng.uniform(np.log(contrast[0]), np.log(contrast[1]), n + 1))
    offsets = rng.uniform(*RAW_OFFSET_Z, n + 1)
    flair = np.zeros(region.shape, np.float32)
    idx = components[region]
    flair[region] = _brighter(flair_tissue[region], ratios[idx], offsets[idx])
    t1 = np.zeros(region.shape, np.float32)
    if img.shape[0] > 1 and np.any(img[1]):
        t1_tissue = _tissue_mean(img[1], img[0] > -1.0)[region]
        darkness = rng.uniform(0.0, 1.0, n + 1)[idx]
        t1[region] = _darker_t1(t1_tissue, darkness)
    return flair, t1


def confluent_periventricular_lesions(img: npt.NDArray[np.float32], lab: npt.NDArray[np.uint8],
                                      brain: npt.NDArray[np.bool_], rng: np.random.Generator,
                                      contrast: tuple[float, float]
                                      ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """Draw a confluent lesion band along the ventricles of the patch (heavy periventricular disease).

    The ventricles are the FLAIR-dark fluid deep inside the brain (at least 6 voxels from its edge). The band covers
    the tissue within a smoothly varying distance of them (1 to 3-10 mm) where a smooth random field lets it (caps
    and partial rims, not a uniform shell), and is drawn by `transplant_lesions` with tissue-relative contrast. A
    patch without ventricles is returned unchanged.
    """
    deep = ndimage.binary_erosion(brain, iterations=6)
    ventricles = deep & (img[0] < -2.0)
    if ventricles.sum() < 50:
        return img, lab
    distance = ndimage.distance_transform_edt(~ventricles)

    def smooth_field() -> npt.NDArray[np.float64]:
        coarse = rng.normal(0, 1, (4, 4, 4))
        field = ndimage.zoom(coarse, np.array(brain.shape) / 4.0, order=3)
        return np.asarray(field[: brain.shape[0], : brain.shape[1], : brain.shape[2]])

    widest = float(rng.uniform(3.0, 10.0))
    thickness = 1.0 + (widest - 1.0) / (1.0 + np.exp(-smooth_field()))
    cover = smooth_field() > rng.uniform(-0.8, 0.4)
    band = (distance > 0) & (distance <= thickness) & cover & ndimage.binary_erosion(brain, iterations=3)
    if band.sum() < 10:
        return img, lab
    return transplant_lesions(img, lab, brain, band, rng, LesionIntensities(), contrast=contrast)
