"""Synthetic MS lesions: shapes (real masks or smooth random blobs) and where they are placed.

Real shapes come from a library of single-lesion masks (such as the 2,229 masks of the CSIM lesion simulator,
`../shared/data/lesion_shapes/labels-database`); without it, lesions are ellipsoids roughened by smoothed noise.
Centres are drawn in the four McDonald regions (periventricular, juxtacortical, infratentorial, deep white
matter) from white-matter voxels, optionally weighted by a lesion frequency map. Lesion voxels are kept only where
the anatomy is white matter-like: never in CSF, never outside the brain.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lesionwatch.atlas.mni import Anatomy

LOCATIONS = ("periventricular", "juxtacortical", "infratentorial", "deep_white_matter")
LOCATION_WEIGHTS = (0.40, 0.20, 0.10, 0.30)


@dataclass
class LesionShapeLibrary:
    """A folder of single-lesion masks in a 1 mm grid (`<bin>/<n>.nii.gz`), sampled lazily."""

    root: Path
    files: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.files = sorted(Path(self.root).rglob("*.nii.gz"))
        if not self.files:
            raise FileNotFoundError(f"{self.root}: no lesion masks (*.nii.gz) found")

    def sample(self, rng: np.random.Generator, spacing_mm: float) -> npt.NDArray[np.bool_]:
        """A random real lesion, cropped to its bounding box and scaled to `spacing_mm`."""
        return _load_shape(self.files[int(rng.integers(len(self.files)))], spacing_mm)


@functools.lru_cache(maxsize=512)
def _load_shape(path: Path, spacing_mm: float) -> npt.NDArray[np.bool_]:
    data = np.asarray(nib.load(str(path)).dataobj) > 0.5  # type: ignore[attr-defined]
    idx = np.argwhere(data)
    lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
    crop = data[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].astype(np.float32)
    if spacing_mm != 1.0:
        crop = ndimage.zoom(np.pad(crop, 1), 1.0 / spacing_mm, order=1)
        out = crop > 0.5
        if not out.any():
            out = np.zeros((1, 1, 1), bool) | True
        return out
    return crop > 0.5


def random_blob(rng: np.random.Generator, volume_mm3: float, spacing_mm: float) -> npt.NDArray[np.bool_]:
    """A smooth, irregular, roughly ellipsoidal blob of about `volume_mm3`, on a grid of `spacing_mm`."""
    radius_mm = (3.0 * volume_mm3 / (4.0 * np.pi)) ** (1.0 / 3.0)
    axes = radius_mm * rng.uniform(0.7, 1.4, size=3)
    axes *= radius_mm / np.prod(axes) ** (1.0 / 3.0)
    half = int(np.ceil(axes.max() * 1.6 / spacing_mm)) + 1
    grid = np.stack(np.meshgrid(*(np.arange(-half, half + 1) * spacing_mm,) * 3, indexing="ij"), -1)
    rot = _random_rotation(rng)
    local = grid @ rot.T
    r = np.sqrt(((local / axes) ** 2).sum(-1))
    noise = ndimage.gaussian_filter(rng.standard_normal(r.shape), sigma=max(1.0, 0.6 * half))
    noise /= noise.std() + 1e-6
    blob = r + 0.15 * noise < 1.0
    if not blob.any():
        blob[half, half, half] = True
    return blob


def _random_rotation(rng: np.random.Generator) -> npt.NDArray[np.float64]:
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    return np.array([
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d],
    ])


@functools.lru_cache(maxsize=8)
def region_candidates(anatomy: Anatomy) -> dict[str, npt.NDArray[np.intp]]:
    """Voxel indices (N, 3) of white matter in each McDonald region of `anatomy` (cached per anatomy)."""
    s = anatomy.spacing_mm
    wm = (anatomy.wm > 0.6) & anatomy.brain
    near_vent = ndimage.distance_transform_edt(~anatomy.ventricles, sampling=s) <= 6.0
    gm = anatomy.gm > 0.5
    near_cortex = ndimage.distance_transform_edt(~gm, sampling=s) <= 2.5
    infra = anatomy.infratentorial
    regions = {
        "periventricular": wm & near_vent & ~infra,
        "juxtacortical": wm & near_cortex & ~near_vent & ~infra,
        "infratentorial": wm & infra,
        "deep_white_matter": wm & ~near_vent & ~near_cortex & ~infra,
    }
    return {name: np.argwhere(m) for name, m in regions.items()}


def allowed_lesion_region(anatomy: Anatomy) -> npt.NDArray[np.bool_]:
    """Where lesion voxels may lie: white-matter-like tissue, never CSF, never outside the brain."""
    return np.asarray(anatomy.brain & (anatomy.csf < 0.3) & (anatomy.wm > 0.25))


def paste(label_map: npt.NDArray[np.int32], shape: npt.NDArray[np.bool_], centre: npt.NDArray[np.intp],
          label: int, allowed: npt.NDArray[np.bool_]) -> int:
    """Write `label` where `shape` (centred at `centre`) meets `allowed` and no other lesion; return voxel count."""
    half = np.array(shape.shape) // 2
    lo = centre - half
    src_lo = np.maximum(0, -lo)
    dst_lo = np.maximum(0, lo)
    dst_hi = np.minimum(label_map.shape, lo + np.array(shape.shape))
    src_hi = src_lo + (dst_hi - dst_lo)
    if np.any(dst_hi <= dst_lo):
        return 0
    sub = shape[src_lo[0]:src_hi[0], src_lo[1]:src_hi[1], src_lo[2]:src_hi[2]]
    region = (slice(dst_lo[0], dst_hi[0]), slice(dst_lo[1], dst_hi[1]), slice(dst_lo[2], dst_hi[2]))
    target = sub & allowed[region] & (label_map[region] == 0)
    label_map[region][target] = label
    return int(target.sum())
