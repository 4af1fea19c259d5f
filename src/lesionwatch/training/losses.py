"""Losses: soft Dice plus binary cross-entropy, the usual pairing for small, sparse lesions."""

from __future__ import annotations

import torch
from torch.nn import functional


def dice_bce_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Mean of (1 - soft Dice over the batch) and BCE; `logits` and `target` shaped (B, 1, x, y, z)."""
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum()
    dice = (2 * inter + smooth) / (prob.sum() + target.sum() + smooth)
    return (1 - dice) + functional.binary_cross_entropy_with_logits(logits, target)


def blob_dice_loss(logits: torch.Tensor, components: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Mean over every lesion of the batch of (1 - soft Dice of that lesion alone): the "blob loss" idea
    (Kofler et al., IPMI 2023) for instance imbalance.

    For lesion n the other lesions are masked out, so its Dice is 2 s_n / (s_n + b + c_n), with s_n the predicted
    probability summed over the lesion, c_n its size and b the probability summed over the background: a small
    lesion weighs as much as a large one, and false positives anywhere in the patch lower every lesion's term.

    Args:
        logits: (B, 1, x, y, z).
        components: (B, 1, x, y, z) int64, 0 background, 1..n the patch's lesions (numbered per patch).

    Returns:
        Scalar loss; zero (with a gradient path) when the batch holds no lesion.
    """
    prob = torch.sigmoid(logits)
    terms = []
    for b in range(prob.shape[0]):
        comp = components[b].reshape(-1)
        n = int(comp.max())
        if n == 0:
            continue
        p = prob[b].reshape(-1)
        sums = torch.zeros(n + 1, dtype=p.dtype, device=p.device).scatter_add(0, comp, p)
        counts = torch.bincount(comp, minlength=n + 1).to(p.dtype)
        s, c = sums[1:], counts[1:]
        terms.append(1 - (2 * s + smooth) / (s + sums[0] + c + smooth))
    if not terms:
        return logits.sum() * 0.0
    return torch.cat(terms).mean()
