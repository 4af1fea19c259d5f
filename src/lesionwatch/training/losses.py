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
