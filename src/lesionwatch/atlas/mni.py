"""The MNI152 (ICBM 2009a symmetric) template's tissue maps that nilearn ships in its wheel, resampled to the
spacing asked for: the healthy anatomy the region map (`atlas.regions`) and the synthetic brains are made from.

ICBM 2009a templates: Fonov et al., NeuroImage 2011; (c) McConnell Brain Imaging Centre, free to use with
attribution (see docs/conventions.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lesionwatch.errors import MissingDependencyError

_TEMPLATE_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}


@dataclass(frozen=True, eq=False)  # compared and hashed by identity, so caches can key on it
class Anatomy:
    """Tissue probability maps of a healthy brain on one RAS+ grid.

    Attributes:
        gm, wm, csf: probabilities in [0, 1], float32, shape (i, j, k); csf includes the ventricles.
        brain: boolean intracranial mask (brain tissue plus CSF).
        ventricles: boolean mask of the lateral ventricles.
        infratentorial: boolean mask of the brainstem and cerebellum.
        affine: voxel-to-RAS+ affine in mm.
    """

    gm: npt.NDArray[np.float32]
    wm: npt.NDArray[np.float32]
    csf: npt.NDArray[np.float32]
    brain: npt.NDArray[np.bool_]
    ventricles: npt.NDArray[np.bool_]
    infratentorial: npt.NDArray[np.bool_]
    affine: npt.NDArray[np.float64]

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.gm.shape
        return (int(s[0]), int(s[1]), int(s[2]))

    @property
    def spacing_mm(self) -> float:
        return float(abs(self.affine[0, 0]))


def _template_dir() -> Path:
    """nilearn's packaged data folder, found without importing nilearn.datasets (which imports scikit-learn)."""
    import importlib.util

    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - nilearn is a core dependency
        raise MissingDependencyError("synthetic anatomy needs nilearn: pip install nilearn")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def _zoom(array: npt.NDArray[np.float32], factor: float) -> npt.NDArray[np.float32]:
    if factor == 1.0:
        return array
    smoothed = ndimage.gaussian_filter(array, sigma=0.4 * factor) if factor > 1 else array
    return ndimage.zoom(smoothed, 1.0 / factor, order=1).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _mni_anatomy_1mm() -> Anatomy:
    """The anatomy on the template's own 1 mm grid (derived once per process)."""
    folder = _template_dir()
    images: dict[str, Any] = {k: nib.load(str(folder / f)) for k, f in _TEMPLATE_FILES.items()}
    affine = np.asarray(images["t1"].affine, dtype=np.float64)
    raw = {k: np.asarray(img.get_fdata(dtype=np.float32)) / 255.0 for k, img in images.items()}
    brain = ndimage.binary_fill_holes(raw["t1"] > 0.02)
    gm = np.where(brain, raw["gm"], 0).astype(np.float32)
    wm = np.where(brain, raw["wm"], 0).astype(np.float32)
    csf = np.where(brain, np.clip(1.0 - gm - wm, 0, 1), 0).astype(np.float32)
    # Lateral ventricles: large, thick CSF components near the centre of the brain, deeper than the sulci. The
    # depth cut and the opening disconnect them from the outer CSF and the interhemispheric fissure; a geodesic
    # dilation then restores their thin horns.
    centre = np.array(ndimage.center_of_mass(brain))
    deep = (csf > 0.6) & (ndimage.distance_transform_edt(brain) > 8)
    labels, n = ndimage.label(ndimage.binary_opening(deep))
    ventricles = np.zeros_like(deep)
    if n:
        sizes = ndimage.sum(labels > 0, labels, range(1, n + 1))
        coms = ndimage.center_of_mass(labels > 0, labels, range(1, n + 1))
        for lab, (size, com) in enumerate(zip(sizes, coms, strict=True), start=1):
            if size > 2000 and np.linalg.norm((np.array(com) - centre)[:2]) < 30:
                ventricles |= labels == lab
        ventricles = ndimage.binary_dilation(ventricles, iterations=3, mask=deep)
    # Infratentorial: below the tentorium, approximated in MNI space by z < -20 mm behind y < -25 mm or z < -35.
    _, jj, kk = np.meshgrid(*(np.arange(n_) for n_ in brain.shape), indexing="ij", sparse=True)
    y = affine[1, 1] * jj + affine[1, 3]
    z = affine[2, 2] * kk + affine[2, 3]
    infra = brain & (((z < -18) & (y < -30)) | (z < -38))
    return Anatomy(gm, wm, csf, np.asarray(brain), np.asarray(ventricles), np.asarray(infra), affine)


@functools.lru_cache(maxsize=4)
def load_mni_anatomy(spacing_mm: float = 1.0) -> Anatomy:
    """The MNI152 2009a anatomy at `spacing_mm` (isotropic), cached.

    Args:
        spacing_mm: voxel size; 1.0 is the template's own, 3.0 gives about 66x78x63 voxels.
    """
    full = _mni_anatomy_1mm()
    factor = float(spacing_mm)
    if factor == 1.0:
        return full
    gm, wm, csf = (_zoom(a, factor) for a in (full.gm, full.wm, full.csf))
    brain, ventricles, infra = (_zoom(m.astype(np.float32), factor) > 0.5
                                for m in (full.brain, full.ventricles, full.infratentorial))
    affine = full.affine.copy()
    affine[:3, :3] *= factor
    # keep the world position of the first voxel's far corner consistent
    affine[:3, 3] += 0.5 * (factor - 1.0)
    return Anatomy(gm, wm, csf, brain, ventricles, infra, affine)
