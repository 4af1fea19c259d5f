"""Brain extraction: deepbet on the FLAIR (and on the registered T1 when present), or detection of input that
is already skull-stripped.

deepbet (Fisch et al., Computers in Biology and Medicine 2024) is a two-stage 3D U-Net trained on T1w scans; its
PyPI wheel ships the trained weights. It also delineates the brain on FLAIR, including clinical 2D FLAIR with
4 mm slices, which we checked on raw scans with skull (docs/preprocessing.md). With a T1, the two probability
maps are averaged, which removes the rare leak of either alone. The mask is then cleaned: largest connected
component, holes filled.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lesionwatch.errors import MissingDependencyError
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.preprocessing.reorientation import reorient_to_ras, restore_orientation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SkullStrippingConfig:
    """How the brain mask is made.

    Attributes:
        mode: "auto" detects skull-stripped input and otherwise runs deepbet; "deepbet" always runs it;
            "skull-stripped" declares the input already skull-stripped (the mask is its non-zero region).
        threshold: deepbet probability above which a voxel is brain.
        stripped_background_fraction: in "auto", the least share of voxels at the image minimum for the
            input to count as skull-stripped...
        stripped_max_volume_ml: ...and the largest non-background volume (a head with skull is bigger).
        device: "auto" (GPU when present), "cpu" or "cuda".
    """

    mode: Literal["auto", "deepbet", "skull-stripped"] = "auto"
    threshold: float = 0.5
    stripped_background_fraction: float = 0.3
    stripped_max_volume_ml: float = 2100.0
    device: Literal["auto", "cpu", "cuda"] = "auto"


@dataclass(frozen=True)
class BrainMask:
    """A brain mask on the FLAIR grid and how it was obtained ("deepbet" or "skull-stripped input")."""

    mask: LabelVolume
    method: str


def looks_skull_stripped(image: Volume, config: SkullStrippingConfig) -> bool:
    """True when most voxels sit exactly at the minimum and the rest is no bigger than a brain."""
    arr = image.array
    background = arr <= arr.min()
    fraction = float(background.mean())
    foreground_ml = float((~background).sum()) * image.voxel_volume_mm3 / 1000.0
    stripped = fraction >= config.stripped_background_fraction and foreground_ml <= config.stripped_max_volume_ml
    log.debug("skull-stripped check: %.0f%% background, %.0f ml foreground -> %s", 100 * fraction,
              foreground_ml, stripped)
    return stripped


def clean_mask(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Keep the largest 6-connected component and fill its holes."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    largest = labels == int(sizes.argmax())
    return np.asarray(ndimage.binary_fill_holes(largest))


@functools.lru_cache(maxsize=2)
def _deepbet_model(device: str) -> Any:
    try:
        from deepbet.bet import BrainExtraction
    except ImportError as exc:  # pragma: no cover - deepbet is a core dependency
        raise MissingDependencyError("brain extraction needs deepbet: pip install deepbet") from exc
    import torch

    use_gpu = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    log.debug("loading deepbet on %s", "cuda" if use_gpu else "cpu")
    return BrainExtraction(no_gpu=not use_gpu)


def brain_probability(image: Volume, config: SkullStrippingConfig) -> Volume:
    """deepbet's brain probability for `image`, on `image`'s grid (any orientation)."""
    import torch

    ras = reorient_to_ras(image)
    model = _deepbet_model(config.device)
    with torch.inference_mode():
        prob = model.run_model(np.array(ras.array, dtype=np.float32))
    prob_ras = ras.with_array(np.asarray(prob, dtype=np.float32))
    if prob_ras.same_grid(image):
        return image.with_array(prob_ras.array)
    return restore_orientation(prob_ras, image)


def strip_skull(flair: Volume, config: SkullStrippingConfig, *, t1: Volume | None = None) -> BrainMask:
    """Compute the brain mask on the FLAIR grid.

    Args:
        flair: FLAIR, any orientation.
        config: method and threshold.
        t1: optional T1 already registered onto the FLAIR grid.

    Returns:
        BrainMask holding a uint8 mask on `flair`'s grid.
    """
    if config.mode == "skull-stripped" or (config.mode == "auto" and looks_skull_stripped(flair, config)):
        mask = clean_mask(flair.array > flair.array.min())
        return BrainMask(flair.as_labels(mask.astype(np.uint8)), "skull-stripped input")
    prob = brain_probability(flair, config).array
    if t1 is not None:
        if not t1.same_grid(flair):
            raise ValueError("the T1 must be registered onto the FLAIR grid before brain extraction")
        prob = 0.5 * (prob + brain_probability(t1, config).array)
    mask = clean_mask(prob > config.threshold)
    log.info("brain mask: %.0f ml (deepbet on %s)", mask.sum() * flair.voxel_volume_mm3 / 1000,
             "FLAIR + T1" if t1 is not None else "FLAIR")
    return BrainMask(flair.as_labels(mask.astype(np.uint8)), "deepbet")
