"""Whole-brain inference with a patch network: overlapping windows blended with Gaussian weights, optional
flip test-time augmentation, on the GPU when one is present.
"""

from __future__ import annotations

import itertools
import logging
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


def _starts(size: int, patch: int, step: int) -> list[int]:
    if size <= patch:
        return [0]
    starts = list(range(0, size - patch, step))
    starts.append(size - patch)
    return starts


def predict_probability(net: Any, image: npt.NDArray[np.float32], patch: tuple[int, int, int], *,
                        overlap: float = 0.25, flip_tta: bool = False, device: str = "cpu",
                        on_window: Callable[[int, int], None] | None = None) -> npt.NDArray[np.float32]:
    """Lesion probability for a (channels, x, y, z) image.

    Args:
        net: module mapping (1, C, px, py, pz) to logits (1, 1, px, py, pz); patch sizes divisible by its divisor.
        image: channels-first float32 array on the working grid.
        patch: window size (voxels).
        overlap: fraction of each window shared with its neighbour.
        flip_tta: also predict on the left-right mirrored image and average.
        device: "cpu" or "cuda".
        on_window: called with (done, total) after each window.

    Returns:
        float32 probabilities, shape (x, y, z).
    """
    import torch

    shape = image.shape[1:]
    pad = [(0, max(0, p - s)) for s, p in zip(shape, patch, strict=True)]
    padded = np.pad(image, [(0, 0), *pad])
    full = padded.shape[1:]
    weight = _gaussian_weight(patch)
    acc = np.zeros(full, np.float32)
    norm = np.zeros(full, np.float32)
    steps = [max(1, int(p * (1 - overlap))) for p in patch]
    windows = list(itertools.product(*(_starts(s, p, st) for s, p, st in zip(full, patch, steps, strict=True))))
    flips = [False, True] if flip_tta else [False]
    total = len(windows)
    with torch.inference_mode():
        for n, (x, y, z) in enumerate(windows):
            sl = (slice(x, x + patch[0]), slice(y, y + patch[1]), slice(z, z + patch[2]))
            tile = torch.from_numpy(np.ascontiguousarray(padded[(slice(None), *sl)]))[None].to(device)
            prob = torch.zeros(patch, device=device)
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
