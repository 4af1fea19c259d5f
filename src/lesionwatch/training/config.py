"""The recipe of a training run (light to import: the command line reads its defaults from here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lesionwatch.training.augmentation import AugmentationConfig


@dataclass(frozen=True)
class TrainingConfig:
    """Recipe of a training run.

    Attributes:
        features: U-Net feature counts per level.
        iterations: most optimiser steps.
        batch_size: patches per step.
        learning_rate: initial Adam learning rate (cosine decay to 5% of it).
        validate_every: steps between validations (and checkpoints).
        patience: validations without improvement before stopping early.
        max_minutes: wall-clock budget; training stops (keeping the best model) when it is spent.
        seed: fixes sampling, augmentation and initialisation.
        augmentation: see AugmentationConfig.
        anchor_weight: L2-SP pull towards the starting weights (fine-tuning): adds
            `anchor_weight * sum((w - w_start)^2)` over the parameters to the loss, so a few scans of one site
            adapt the model without dragging it away from what it learnt on many; 0 turns it off.
        blob_weight: weight of the per-lesion Dice term (`losses.blob_dice_loss`) added to Dice + BCE; 0 turns it
            off.
    """

    features: tuple[int, ...] = (12, 24, 48, 96)
    iterations: int = 3000
    batch_size: int = 2
    learning_rate: float = 2e-3
    validate_every: int = 250
    patience: int = 5
    max_minutes: float = 60.0
    seed: int = 0
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    anchor_weight: float = 0.0
    blob_weight: float = 0.0
