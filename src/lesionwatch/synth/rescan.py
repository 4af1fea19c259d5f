"""Pseudo-rescans: the same head scanned again on the same day, made from one real scan.

A rescan differs from the scan in everything but the anatomy: the head sits elsewhere in the scanner (a rigid
motion), the voxel grid is another (voxel size and position), the receive field (bias) and the noise are new.
`rescan` makes that from one study's images, so a follow-up of a scan against its rescan has an exact truth:
nothing changed. Every sequence of the study moves with the same head motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial.transform import Rotation

from lesionwatch.io.volume import Volume
from lesionwatch.preprocessing.resampling import Grid, resample


@dataclass(frozen=True)
class RescanConfig:
    """How far a rescan differs from its scan.

    Attributes:
        rotation_deg: largest rotation about each axis (degrees), drawn uniformly in +-.
        shift_mm: largest translation along each axis (mm), drawn uniformly in +-.
        voxel_scale: range of the factor applied to the voxel size of the new grid (one factor for all axes).
        noise_fraction: SD of the new Gaussian noise (on two quadrature channels, so magnitude images keep their
            Rician floor), relative to the image's median foreground intensity.
        bias_amplitude: largest relative change of the new smooth bias field (a random linear plus quadratic
            field across the head, exp-scaled so it is positive).
    """

    rotation_deg: float = 4.0
    shift_mm: float = 4.0
    voxel_scale: tuple[float, float] = (0.92, 1.08)
    noise_fraction: float = 0.02
    bias_amplitude: float = 0.1


def head_motion(rng: np.random.Generator, centre_mm: npt.NDArray[np.float64], config: RescanConfig
                ) -> npt.NDArray[np.float64]:
    """A random rigid motion (4x4, RAS+ mm) about `centre_mm`."""
    motion = np.eye(4)
    angles = rng.uniform(-config.rotation_deg, config.rotation_deg, 3)
    motion[:3, :3] = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    shift = rng.uniform(-config.shift_mm, config.shift_mm, 3)
    motion[:3, 3] = centre_mm - motion[:3, :3] @ centre_mm + shift
    return motion


def _bias_field(shape: tuple[int, ...], rng: np.random.Generator, amplitude: float) -> npt.NDArray[np.float32]:
    axes = np.meshgrid(*[np.linspace(-1.0, 1.0, n) for n in shape], indexing="ij")
    field = np.zeros(shape)
    for a in axes:
        field += rng.uniform(-1, 1) * a + rng.uniform(-1, 1) * a**2
    field /= max(float(np.abs(field).max()), 1e-6)
    return np.exp(np.log1p(amplitude) * field).astype(np.float32)


def rescan(images: dict[str, Volume], rng: np.random.Generator, config: RescanConfig | None = None
           ) -> dict[str, Volume]:
    """The study's images (`images`: sequence -> Volume, one head) as a same-day rescan would give them.

    Each image is resampled (cubic) onto its own grid moved by one head motion and scaled by one voxel factor,
    then gets its own bias field and noise (none where the image is zero: a skull-stripped scan stays stripped).
    Returns new Volumes, non-negative, with plain affines (no header).
    """
    config = config or RescanConfig()
    first = next(iter(images.values()))
    motion = head_motion(rng, first.world_corners_mm().mean(axis=0), config)
    scale = float(rng.uniform(*config.voxel_scale))
    out = {}
    for name, image in images.items():
        affine = motion @ image.affine @ np.diag([scale, scale, scale, 1.0])
        nx, ny, nz = (max(1, round(n / scale)) for n in image.shape)
        shape = (nx, ny, nz)
        moved = resample(image, Grid(shape, affine), world_transform=np.asarray(np.linalg.inv(motion), np.float64),
                         order=3).array
        moved = np.clip(moved, 0, None) * _bias_field(shape, rng, config.bias_amplitude)
        foreground = moved[moved > 0.1 * float(np.percentile(moved, 99))]
        sd = config.noise_fraction * (float(np.median(foreground)) if foreground.size else 1.0)
        noisy = np.hypot(moved + rng.normal(0, sd, shape), rng.normal(0, sd, shape))
        # a skull-stripped image stays stripped: its zero background is the stripping, not the scanner
        out[name] = Volume(np.where(moved > 0, noisy, 0.0).astype(np.float32), affine)
    return out
