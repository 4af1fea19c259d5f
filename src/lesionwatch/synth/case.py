"""Synthetic MS cases and follow-ups with exact ground truth.

A case starts from a healthy anatomy (tissue probabilities), inserts lesions (`synth.lesions`), renders each
sequence from per-tissue intensities with partial volume at lesion borders, then "acquires" it: a random head
pose, the slice profile and grid of a 3D or 2D (thick-slice) acquisition, a smooth multiplicative bias field,
Rician noise and a random intensity scale. Follow-up time points reuse the same brain, change the lesions (new,
enlarging, shrinking, resolved, stable) and acquire again with another pose, slice placement and intensity drift.
Everything is drawn from one `numpy.random.Generator`, so a seed fixes the case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lesionwatch.atlas.mni import Anatomy, load_mni_anatomy
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.preprocessing.resampling import Grid, resample, slice_profile_sigma
from lesionwatch.synth.lesions import (
    LOCATION_WEIGHTS,
    LOCATIONS,
    LesionShapeLibrary,
    allowed_lesion_region,
    paste,
    random_blob,
    region_candidates,
)

# Mean intensity of each tissue per sequence, relative to one another (FLAIR: lesion > GM > WM > CSF).
TISSUE_INTENSITY = {
    "flair": {"csf": 0.08, "gm": 0.62, "wm": 0.47, "bone": 0.04, "scalp": 0.55},
    "t1": {"csf": 0.18, "gm": 0.50, "wm": 0.78, "bone": 0.05, "scalp": 0.90},
    "t2": {"csf": 1.00, "gm": 0.55, "wm": 0.38, "bone": 0.04, "scalp": 0.60},
    "pd": {"csf": 0.85, "gm": 0.78, "wm": 0.65, "bone": 0.05, "scalp": 0.80},
}
# Lesion intensity range per sequence, as a multiple of white matter.
LESION_CONTRAST = {"flair": (1.55, 2.3), "t1": (0.55, 0.9), "t2": (1.9, 2.5), "pd": (1.2, 1.4)}
BLACK_HOLE_T1 = (0.35, 0.5)


@dataclass(frozen=True)
class SynthConfig:
    """How a synthetic case looks.

    Attributes:
        spacing_mm: spacing of the anatomy the case is built on (1.0 = full MNI, 3.0 = about 64^3 for tests).
        sequences: sequences to render, from "flair", "t1", "t2", "pd".
        lesion_count: inclusive range of the number of lesions at baseline.
        lesion_volume_mm3: range of the volume of a lesion (drawn log-uniformly; real shapes bring their own).
        black_hole_fraction: share of lesions that are markedly T1-hypointense.
        skull_stripped: render only the brain (True) or a head with CSF, skull and scalp (False).
        slice_thickness_mm: None for a 3D acquisition at `spacing_mm`, or a (min, max) range for 2D axial slices.
        in_plane_mm: in-plane spacing of a 2D acquisition.
        pose_deg, pose_mm: largest head rotation (degrees) and translation (mm).
        noise: Rician noise sigma relative to white matter.
        bias: strength of the bias field (0.2 means roughly +-20%).
        shapes: folder of real single-lesion masks; None uses random blobs.
    """

    spacing_mm: float = 1.0
    sequences: tuple[str, ...] = ("flair", "t1")
    lesion_count: tuple[int, int] = (8, 30)
    lesion_volume_mm3: tuple[float, float] = (8.0, 1500.0)
    black_hole_fraction: float = 0.2
    skull_stripped: bool = False
    slice_thickness_mm: tuple[float, float] | None = None
    in_plane_mm: float = 0.9
    pose_deg: float = 6.0
    pose_mm: float = 5.0
    noise: float = 0.025
    bias: float = 0.2
    shapes: Path | None = None


@dataclass(frozen=True)
class FollowupConfig:
    """How lesions change between consecutive time points.

    Attributes:
        new_count: inclusive range of new lesions per interval.
        p_enlarging, p_shrinking, p_resolved: chance that an existing lesion enlarges (volume x1.5 or more),
            shrinks (x0.67 or less) or resolves; the rest stay stable.
        intensity_drift: largest relative change of the scanner's intensity scale between sessions.
    """

    new_count: tuple[int, int] = (1, 4)
    p_enlarging: float = 0.15
    p_shrinking: float = 0.10
    p_resolved: float = 0.05
    intensity_drift: float = 0.1


@dataclass
class LesionTruth:
    """One lesion across time points: id, McDonald location, volume per time point (0 when absent), and the
    change class of each interval ("stable", "enlarging", "shrinking", "resolved", "new", or "absent")."""

    id: int
    location: str
    volumes_mm3: list[float] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    black_hole: bool = False


@dataclass(frozen=True)
class SyntheticTimepoint:
    """One acquired session: images and lesion id map on the acquisition grid, and the head pose used.

    Attributes:
        images: sequence name -> Volume on the acquisition grid.
        lesions: lesion ids (0 = background) on the same grid as the images.
        head_to_scanner: 4x4 rigid world matrix that moved the head from the anatomy's space.
        anatomy_lesions: lesion ids on the anatomy grid (the truth before acquisition).
    """

    images: dict[str, Volume]
    lesions: LabelVolume
    head_to_scanner: npt.NDArray[np.float64]
    anatomy_lesions: LabelVolume


@dataclass(frozen=True)
class SyntheticCase:
    """A synthetic patient: time points in order and the per-lesion truth."""

    timepoints: list[SyntheticTimepoint]
    lesions: list[LesionTruth]
    seed: int


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _new_shape(rng: np.random.Generator, config: SynthConfig, library: LesionShapeLibrary | None
               ) -> npt.NDArray[np.bool_]:
    if library is not None and rng.random() < 0.8:
        return library.sample(rng, config.spacing_mm)
    return random_blob(rng, _log_uniform(rng, *config.lesion_volume_mm3), config.spacing_mm)


def _insert(rng: np.random.Generator, labels: npt.NDArray[np.int32], anatomy: Anatomy, config: SynthConfig,
            library: LesionShapeLibrary | None, label: int) -> str | None:
    candidates = region_candidates(anatomy)
    allowed = allowed_lesion_region(anatomy)
    weights = np.array([w if len(candidates[loc]) else 0.0 for loc, w in zip(LOCATIONS, LOCATION_WEIGHTS,
                                                                            strict=True)])
    if weights.sum() == 0:
        return None
    for _ in range(20):
        location = LOCATIONS[int(rng.choice(len(LOCATIONS), p=weights / weights.sum()))]
        pool = candidates[location]
        centre = pool[int(rng.integers(len(pool)))]
        if labels[tuple(centre)] != 0:
            continue
        shape = _new_shape(rng, config, library)
        if paste(labels, shape, centre, label, allowed) > 0:
            return location
    return None


def _render(anatomy: Anatomy, labels: npt.NDArray[np.int32], lesion_contrast: dict[int, dict[str, float]],
            sequences: tuple[str, ...], dist_out: npt.NDArray[np.float64] | None, pad: int
            ) -> dict[str, npt.NDArray[np.float32]]:
    """Sequence images on the anatomy grid; `dist_out` (mm from the brain) draws a head, None strips it."""
    s = anatomy.spacing_mm
    lesion = labels > 0
    # Partial volume: a soft rim around each lesion blends lesion and surrounding tissue.
    fraction = np.clip(ndimage.gaussian_filter(lesion.astype(np.float32), sigma=0.6 / s), 0, 1)
    fraction = np.maximum(fraction, 0.85 * lesion)
    # Rim voxels take the contrast of the lesion next to them.
    nearest = np.where(lesion, labels, ndimage.grey_dilation(labels, size=(5, 5, 5))) if lesion.any() else labels
    outside = ~anatomy.brain
    images = {}
    for seq in sequences:
        t = TISSUE_INTENSITY[seq]
        img = anatomy.gm * t["gm"] + anatomy.wm * t["wm"] + anatomy.csf * t["csf"]
        if lesion.any():
            factor = np.zeros(max(lesion_contrast) + 1, dtype=np.float32)
            for lab, contrast in lesion_contrast.items():
                factor[lab] = contrast[seq]
            lesion_value = factor[nearest] * t["wm"]
            img = (1 - fraction) * img + fraction * lesion_value
        if dist_out is not None:
            img = np.where(outside & (dist_out <= 2.5), t["csf"], img)
            img = np.where(outside & (dist_out > 2.5) & (dist_out <= 8), t["bone"], img)
            img = np.where(outside & (dist_out > 8) & (dist_out <= 13), t["scalp"], img)
        else:
            img = np.where(outside, 0.0, img)
        images[seq] = np.pad(img.astype(np.float32), pad)
    return images


def _rigid(rng: np.random.Generator, max_deg: float, max_mm: float, centre: npt.NDArray[np.float64]
           ) -> npt.NDArray[np.float64]:
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    angle = np.deg2rad(rng.uniform(-max_deg, max_deg))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = centre - rot @ centre + rng.uniform(-max_mm, max_mm, 3)
    return m


def _acquisition_grid(rng: np.random.Generator, head: Grid, config: SynthConfig) -> Grid:
    """The scanner's grid: axis-aligned, 3D isotropic or 2D axial slices with a random slice offset."""
    corners = np.array([[i, j, k] for i in (0, head.shape[0] - 1) for j in (0, head.shape[1] - 1)
                        for k in (0, head.shape[2] - 1)], float) @ head.affine[:3, :3].T + head.affine[:3, 3]
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    if config.slice_thickness_mm is None:
        spacing = np.full(3, config.spacing_mm)
    else:
        thickness = float(rng.uniform(*config.slice_thickness_mm))
        spacing = np.array([config.in_plane_mm, config.in_plane_mm, thickness])
    offset = rng.uniform(0, spacing)
    shape = np.ceil((hi - lo) / spacing).astype(int) + 1
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = lo + offset - spacing / 2
    return Grid((int(shape[0]), int(shape[1]), int(shape[2])), affine)


def _bias_field(rng: np.random.Generator, shape: tuple[int, int, int], strength: float
                ) -> npt.NDArray[np.float32]:
    """A smooth multiplicative field: exp of low-frequency cosines along each axis and one oblique term."""
    axes = np.meshgrid(*(np.linspace(0, np.pi, n, dtype=np.float32) for n in shape), indexing="ij", sparse=True)
    log_field = np.zeros((1, 1, 1), np.float32)
    for ax in axes:
        for freq in (1, 2):
            log_field = log_field + rng.normal(0, strength / (2 * freq)) * np.cos(freq * ax + rng.uniform(0, np.pi))
    oblique = axes[0] + axes[1] + axes[2]
    log_field = log_field + rng.normal(0, strength / 3) * np.cos(oblique / 1.5 + rng.uniform(0, np.pi))
    return np.exp(log_field).astype(np.float32)


def _acquire(rng: np.random.Generator, images: dict[str, npt.NDArray[np.float32]], labels: LabelVolume,
             head: Grid, config: SynthConfig, pose: npt.NDArray[np.float64], scale: float
             ) -> tuple[dict[str, Volume], LabelVolume]:
    grid = _acquisition_grid(rng, head, config)
    s = config.spacing_mm
    # Slice profile: blur along z by the slice thickness, in-plane by the in-plane resolution.
    sigma = [slice_profile_sigma(grid.spacing_mm[a], s) for a in range(3)]
    inverse_pose = np.asarray(np.linalg.inv(pose), dtype=np.float64)
    bias = _bias_field(rng, grid.shape, config.bias)
    out: dict[str, Volume] = {}
    for seq, arr in images.items():
        blurred = ndimage.gaussian_filter(arr, sigma=sigma) if any(sigma) else arr
        moved = resample(Volume(blurred, head.affine), grid, world_transform=inverse_pose, order=1).array
        wm_level = TISSUE_INTENSITY[seq]["wm"]
        noise = config.noise * wm_level
        noisy = np.sqrt((moved * bias + rng.normal(0, noise, moved.shape)) ** 2
                        + rng.normal(0, noise, moved.shape) ** 2)
        if config.skull_stripped:
            noisy = np.where(moved > 0, noisy, 0.0)
        out[seq] = Volume((noisy * scale * rng.uniform(0.9, 1.1)).astype(np.float32), grid.affine)
    truth = resample(labels, grid, world_transform=inverse_pose)
    return out, truth


def _lesion_contrast(rng: np.random.Generator, black_hole: bool) -> dict[str, float]:
    c = {seq: float(rng.uniform(*rng_range)) for seq, rng_range in LESION_CONTRAST.items()}
    if black_hole:
        c["t1"] = float(rng.uniform(*BLACK_HOLE_T1))
    return c


def _volume_mm3(labels: npt.NDArray[np.int32], label: int, voxel_mm3: float) -> float:
    return float(np.count_nonzero(labels == label)) * voxel_mm3


def _change_lesion(labels: npt.NDArray[np.int32], label: int, grow: bool, allowed: npt.NDArray[np.bool_]) -> None:
    before = np.count_nonzero(labels == label)
    for _ in range(4):
        current = labels == label
        if grow:
            ring = ndimage.binary_dilation(current) & ~current & allowed & (labels == 0)
            labels[ring] = label
            if np.count_nonzero(labels == label) >= 1.5 * before:
                return
        else:
            eroded = ndimage.binary_erosion(current)
            labels[current & ~eroded] = 0
            if np.count_nonzero(labels == label) <= 0.67 * before:
                return


def generate_case(seed: int, config: SynthConfig | None = None, *, timepoints: int = 1,
                  followup: FollowupConfig | None = None, anatomy: Anatomy | None = None) -> SyntheticCase:
    """Build a synthetic MS patient with `timepoints` sessions.

    Args:
        seed: fixes everything drawn.
        config: appearance and acquisition (defaults: 1 mm, FLAIR + T1, with skull, 3D).
        timepoints: number of sessions; lesions change between consecutive ones.
        followup: how lesions change.
        anatomy: healthy anatomy; default the MNI152 template at `config.spacing_mm`.

    Returns:
        SyntheticCase with per-session images and lesion maps, and per-lesion truth.
    """
    config = config or SynthConfig()
    followup = followup or FollowupConfig()
    rng = np.random.default_rng(seed)
    anatomy = anatomy or load_mni_anatomy(config.spacing_mm)
    library = LesionShapeLibrary(config.shapes) if config.shapes is not None else None
    voxel_mm3 = config.spacing_mm ** 3
    allowed = allowed_lesion_region(anatomy)
    pad = 0 if config.skull_stripped else int(np.ceil(16 / config.spacing_mm))
    head_affine = anatomy.affine.copy()
    head_affine[:3, 3] -= head_affine[:3, :3] @ np.full(3, pad)
    head = Grid(tuple(int(n + 2 * pad) for n in anatomy.shape), head_affine)  # type: ignore[arg-type]
    centre = head_affine[:3, :3] @ (np.array(head.shape) / 2.0) + head_affine[:3, 3]

    dist_out = None if config.skull_stripped else ndimage.distance_transform_edt(~anatomy.brain,
                                                                                   sampling=config.spacing_mm)
    labels = np.zeros(anatomy.shape, dtype=np.int32)
    truth: list[LesionTruth] = []
    contrast: dict[int, dict[str, float]] = {}
    n_lesions = int(rng.integers(config.lesion_count[0], config.lesion_count[1] + 1))
    for _ in range(n_lesions):
        label = len(truth) + 1
        location = _insert(rng, labels, anatomy, config, library, label)
        if location is None:
            continue
        black_hole = bool(rng.random() < config.black_hole_fraction)
        contrast[label] = _lesion_contrast(rng, black_hole)
        truth.append(LesionTruth(label, location, black_hole=black_hole))

    sessions: list[SyntheticTimepoint] = []
    scale = float(rng.uniform(200, 2000))
    for t in range(timepoints):
        if t > 0:
            for lesion in truth:
                if lesion.volumes_mm3[-1] == 0:
                    lesion.changes.append("absent")
                    continue
                roll = rng.random()
                if roll < followup.p_resolved:
                    labels[labels == lesion.id] = 0
                    lesion.changes.append("resolved")
                elif roll < followup.p_resolved + followup.p_enlarging:
                    _change_lesion(labels, lesion.id, True, allowed)
                    lesion.changes.append("enlarging")
                elif roll < followup.p_resolved + followup.p_enlarging + followup.p_shrinking:
                    _change_lesion(labels, lesion.id, False, allowed)
                    lesion.changes.append("shrinking" if np.any(labels == lesion.id) else "resolved")
                else:
                    lesion.changes.append("stable")
            for _ in range(int(rng.integers(followup.new_count[0], followup.new_count[1] + 1))):
                label = len(truth) + 1
                location = _insert(rng, labels, anatomy, config, library, label)
                if location is None:
                    continue
                black_hole = bool(rng.random() < config.black_hole_fraction)
                contrast[label] = _lesion_contrast(rng, black_hole)
                truth.append(LesionTruth(label, location, [0.0] * t, ["absent"] * (t - 1) + ["new"],
                                         black_hole))
            scale *= float(1 + rng.uniform(-followup.intensity_drift, followup.intensity_drift))
        for lesion in truth:
            lesion.volumes_mm3.append(_volume_mm3(labels, lesion.id, voxel_mm3))
        rendered = _render(anatomy, labels, contrast, config.sequences, dist_out, pad)
        anatomy_labels = LabelVolume(labels.copy(), anatomy.affine)
        head_labels = LabelVolume(np.pad(labels, pad), head.affine)
        pose = _rigid(rng, config.pose_deg, config.pose_mm, centre)
        images, lesion_map = _acquire(rng, rendered, head_labels, head, config, pose, scale)
        sessions.append(SyntheticTimepoint(images, lesion_map, pose, anatomy_labels))
    return SyntheticCase(sessions, truth, seed)
