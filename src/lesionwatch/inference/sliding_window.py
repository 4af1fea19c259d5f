"""Whole-brain inference with a patch network: overlapping windows blended with Gaussian weights, optional
flip test-time augmentation, on the GPU when one is present.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from lesionwatch.paths import device_preference, num_threads

log = logging.getLogger(__name__)


def choose_device() -> str:
    """"cuda" when asked for or available (with LESIONWATCH_DEVICE=auto), else "cpu"."""
    import torch

    pref = device_preference()
    if pref == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def configure_threads() -> None:
    import torch

    n = num_threads()
    if n:
        torch.set_num_threads(n)


def _gaussian_weight(patch: tuple[int, int, int]) -> npt.NDArray[np.float32]:
    axes = [np.exp(-0.5 * ((np.arange(n) - (n - 1) / 2) / (n / 8)) ** 2) for n in patch]
    w = axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
    return np.maximum(w / w.max(), 1e-3).astype(np.float32)


def axis_windows(size: int, nominal: int, divisor: int, overlap: float, max_stretch: float
                 ) -> tuple[int, list[int]]:
    """Window length and start positions along one axis of `size` voxels.

    The fewest windows of at most `nominal * max_stretch` voxels that cover the axis while neighbours share at least
    `overlap * nominal` voxels; their common length is the smallest multiple of `divisor` that achieves it, and
    they are spread evenly. An axis shorter than `nominal` gets one window of `nominal` (the image is padded).
    """
    if size <= nominal:
        return nominal, [0]
    shared = round(nominal * overlap)
    longest = max(nominal, int(nominal * max_stretch) // divisor * divisor)
    count = max(1, math.ceil((size - shared) / (longest - shared)))
    length = min(longest, math.ceil(math.ceil((size + (count - 1) * shared) / count) / divisor) * divisor)
    if count == 1:
        return length, [0]
    return length, [round(i * (size - length) / (count - 1)) for i in range(count)]


def predict_probability(net: Any, image: npt.NDArray[np.float32], patch: tuple[int, int, int], *,
                        overlap: float = 0.25, max_stretch: float = 1.25, flip_tta: bool = False,
                        device: str = "cpu", on_window: Callable[[int, int], None] | None = None
                        ) -> npt.NDArray[np.float32]:
    """Lesion probability for a (channels, x, y, z) image.

    Windows are the card's patch size stretched (by at most `max_stretch`, in steps of the network's divisor) so
    that each axis is covered by as few windows as possible: a 1 mm adult brain (about 166 x 198 x 172 voxels on
    the working grid) takes 2 x 2 x 2 windows of about 96 x 112 x 104 instead of 2 x 3 x 3 windows of 96.

    Args:
        net: module mapping (1, C, px, py, pz) to logits (1, 1, px, py, pz); sizes must be multiples of its
            `divisor` attribute (1 when it has none).
        image: channels-first float32 array on the working grid.
        patch: nominal window size (voxels), the card's patch size.
        overlap: least fraction of the nominal window shared by neighbouring windows (blended with Gaussian weights).
        max_stretch: longest window as a multiple of the nominal one (1.0: fixed windows).
        flip_tta: also predict on the left-right mirrored image and average.
        device: "cpu" or "cuda".
        on_window: called with (done, total) after each window.

    Returns:
        float32 probabilities, shape (x, y, z).
    """
    import torch

    shape = image.shape[1:]
    divisor = int(getattr(net, "divisor", 1))
    axes = [axis_windows(s, p, divisor, overlap, max_stretch) for s, p in zip(shape, patch, strict=True)]
    window = (axes[0][0], axes[1][0], axes[2][0])
    pad = [(0, max(0, w - s)) for s, w in zip(shape, window, strict=True)]
    padded = np.pad(image, [(0, 0), *pad])
    full = padded.shape[1:]
    weight = _gaussian_weight(window)
    acc = np.zeros(full, np.float32)
    norm = np.zeros(full, np.float32)
    windows = list(itertools.product(*(starts for _, starts in axes)))
    flips = [False, True] if flip_tta else [False]
    total = len(windows)
    log.debug("sliding window: %d windows of %s voxels over %s", total, window, shape)
    with torch.inference_mode():
        for n, (x, y, z) in enumerate(windows):
            sl = (slice(x, x + window[0]), slice(y, y + window[1]), slice(z, z + window[2]))
            tile = torch.from_numpy(np.ascontiguousarray(padded[(slice(None), *sl)]))[None].to(device)
            prob = torch.zeros(window, device=device)
            for flip in flips:
                inp = torch.flip(tile, dims=[2]) if flip else tile
                out = torch.sigmoid(net(inp))[0, 0]
                prob += torch.flip(out, dims=[0]) if flip else out
            acc[sl] += (prob / len(flips)).cpu().numpy() * weight
            norm[sl] += weight
            if on_window is not None:
                on_window(n + 1, total)
    result = acc / np.maximum(norm, 1e-6)
    return result[: shape[0], : shape[1], : shape[2]].astype(np.float32)
