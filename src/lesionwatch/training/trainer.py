"""The training loop: patches from prepared cases, Dice + BCE, Adam with a cosine schedule, validation on whole
volumes with early stopping, and checkpoints that resume exactly after an interruption.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lesionwatch.inference.sliding_window import predict_probability
from lesionwatch.lesions.components import label_lesions
from lesionwatch.lesions.metrics import dice_score
from lesionwatch.training.augmentation import (
    index_lesions,
    lesion_intensities,
    lesion_shape_bank,
    sample_patch,
)
from lesionwatch.training.config import TrainingConfig
from lesionwatch.training.data import PreparedCase
from lesionwatch.training.losses import blob_dice_loss, dice_bce_loss

log = logging.getLogger(__name__)


@dataclass
class TrainingState:
    iteration: int = 0
    best_dice: float = -1.0
    best_iteration: int = 0
    bad_validations: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def validate(net: Any, cases: list[PreparedCase], patch: tuple[int, int, int], device: str,
             thresholds: tuple[float, ...] = (0.5,)) -> dict[float, float]:
    """Mean Dice of whole-volume predictions over `cases`, per threshold."""
    net.eval()
    scores: dict[float, list[float]] = {t: [] for t in thresholds}
    for case in cases:
        prob = predict_probability(net, case.channels, patch, device=device)
        prob = np.where(case.brain, prob, 0.0)
        for t in thresholds:
            scores[t].append(dice_score(prob >= t, case.label > 0))
    net.train()
    return {t: float(np.mean(v)) for t, v in scores.items()}


def train(net: Any, train_cases: list[PreparedCase], val_cases: list[PreparedCase], config: TrainingConfig, *,
          checkpoint: Path, device: str = "cpu", on_step: Callable[[TrainingState, float], None] | None = None
          ) -> tuple[dict[str, Any], TrainingState]:
    """Train `net`; resume from `checkpoint` when it exists. Returns (best state dict, final state)."""
    import torch

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    opt = torch.optim.Adam(net.parameters(), lr=config.learning_rate, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.iterations,
                                                       eta_min=0.05 * config.learning_rate)
    state = TrainingState()
    best: dict[str, Any] = {k: v.detach().clone() for k, v in net.state_dict().items()}
    # L2-SP anchor: the weights this run started from, taken before any checkpoint is resumed
    anchor = [p.detach().clone().to(device) for p in net.parameters()] if config.anchor_weight > 0 else []
    if checkpoint.is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        net.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        best = saved["best"]
        state = TrainingState(**saved["state"])
        rng = np.random.default_rng(config.seed + state.iteration)
        log.info("resumed from %s at iteration %d (best Dice %.3f)", checkpoint, state.iteration, state.best_dice)
    if config.augmentation.per_lesion_fraction > 0:
        train_cases = index_lesions(train_cases)
    shapes = lesion_shape_bank(train_cases)
    intensities = lesion_intensities(train_cases)
    log.info("real lesion intensity ranges (10th-90th percentile, z): FLAIR %.2f-%.2f, T1 %.2f-%.2f; %d lesion "
             "shapes; %d transplantable lesion masks", *intensities.flair, *intensities.t1, len(shapes),
             sum(len(c.transplants) for c in train_cases))
    net.to(device).train()
    start = time.monotonic()
    patch = config.augmentation.patch_size
    val_patch = (max(patch[0], 96), max(patch[1], 96), max(patch[2], 96))
    while state.iteration < config.iterations:
        batch = [sample_patch(train_cases[int(rng.integers(len(train_cases)))], rng, config.augmentation, shapes,
                              intensities) for _ in range(config.batch_size)]
        x = torch.from_numpy(np.stack([b[0] for b in batch])).to(device)
        y = torch.from_numpy(np.stack([b[1] for b in batch])).to(device)
        logits = net(x)
        loss = dice_bce_loss(logits, y)
        if config.blob_weight > 0:
            components = torch.from_numpy(np.stack([label_lesions(b[1][0])[0][None] for b in batch]).astype(np.int64))
            loss = loss + config.blob_weight * blob_dice_loss(logits, components.to(device))
        if anchor:
            loss = loss + config.anchor_weight * sum(((p - a) ** 2).sum()
                                                     for p, a in zip(net.parameters(), anchor, strict=True))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        state.iteration += 1
        if on_step is not None:
            on_step(state, float(loss.detach()))
        out_of_time = (time.monotonic() - start) / 60 > config.max_minutes
        if state.iteration % config.validate_every == 0 or state.iteration == config.iterations or out_of_time:
            loss_value = float(loss.detach())
            if not val_cases:  # nothing to validate on (e.g. fine-tuning on one patient): keep the latest weights
                state.history.append({"iteration": state.iteration, "loss": loss_value})
                best = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
                state.best_iteration = state.iteration
                dice = float("nan")
            else:
                dice = validate(net, val_cases, val_patch, device)[0.5]
                state.history.append({"iteration": state.iteration, "loss": loss_value, "val_dice": dice})
            if val_cases and dice > state.best_dice:
                state.best_dice, state.best_iteration, state.bad_validations = dice, state.iteration, 0
                best = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            elif val_cases:
                state.bad_validations += 1
            if val_cases:
                log.info("iteration %d: loss %.3f, validation Dice %.3f (best %.3f at %d)", state.iteration,
                         loss_value, dice, state.best_dice, state.best_iteration)
            else:
                log.info("iteration %d: loss %.3f (no validation cases: the latest weights are kept)", state.iteration,
                         loss_value)
            tmp = checkpoint.with_suffix(".tmp")
            torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                        "best": best, "state": state.__dict__}, tmp)
            tmp.replace(checkpoint)
            if state.bad_validations >= config.patience or out_of_time:
                log.info("stopping: %s", "no improvement" if not out_of_time else "time budget spent")
                break
    return best, state
