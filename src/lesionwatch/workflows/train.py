"""The train and finetune workflows: find labelled cases, preprocess them (cached), split by patient, train with
checkpoints, choose the threshold on validation, and write a self-describing model folder.

Model folder: `model_card.json`, `weights.pt`, `checkpoint.pt` (to resume), `training_log.json`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from lesionwatch import __version__
from lesionwatch.errors import ConfigError, ModelError, OutputExistsError
from lesionwatch.io.atomic import write_atomically, write_json_atomically
from lesionwatch.io.nifti import NIFTI_SUFFIXES, read_labels
from lesionwatch.io.study import StudyInputs, hash_input, load_study
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.models.card import CARD_NAME, WEIGHTS_NAME, ModelCard, load_model, read_card, sha256_file
from lesionwatch.preprocessing.pipeline import PreprocessingConfig, preprocess
from lesionwatch.preprocessing.resampling import Grid, resample, resample_probability_as_labels
from lesionwatch.training.config import TrainingConfig
from lesionwatch.training.data import LabelledCase, PreparedCase, split_by_patient
from lesionwatch.training.trainer import train, validate
from lesionwatch.workflows.provenance import config_dict

log = logging.getLogger(__name__)

INPUTS = ("flair", "t1")


def prepare_case(case: LabelledCase, config: PreprocessingConfig, cache_dir: Path | None) -> PreparedCase:
    """Preprocess a labelled case onto the working grid; cached by input hashes and config."""
    key_src = json.dumps([hash_input(case.flair), hash_input(case.t1) if case.t1 else None, hash_input(case.mask),
                          config_dict(config), __version__], sort_keys=True, default=str)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:20]
    cached = cache_dir / f"{key}.npz" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        data = np.load(cached)
        if "affine" in data:
            return PreparedCase(case.name, case.patient, data["channels"], data["label"], data["brain"],
                                data["affine"])
    pre = preprocess(load_study(StudyInputs(flair=case.flair, t1=case.t1)), config)
    mask = read_labels(case.mask)
    label = resample_probability_as_labels(Volume(mask.mask.astype(np.float32), mask.affine), pre.grid, 0.5)
    shape = pre.brain_mask.shape
    channels = np.stack([pre.channels[name].array if name in pre.channels else np.zeros(shape, np.float32)
                         for name in INPUTS])
    prepared = PreparedCase(case.name, case.patient, channels.astype(np.float32), label.array.astype(np.uint8),
                            pre.brain_mask.mask, pre.grid.affine)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(cached, lambda tmp: np.savez_compressed(tmp, channels=prepared.channels,
                                                                 label=prepared.label, brain=prepared.brain,
                                                                 affine=pre.grid.affine))
    return prepared


def lesion_mask_files(paths: tuple[Path, ...]) -> list[Path]:
    """NIfTI files named directly or found (sorted) in the given folders."""
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(NIFTI_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"{path}: --lesion-masks names no file or folder")
    return files


def attach_transplants(cases: list[PreparedCase], mask_files: list[Path]) -> list[PreparedCase]:
    """Give every case the lesion masks (other patients, same world space) that land in its brain.

    A mask is resampled (nearest neighbour, through world coordinates) onto the case's working grid and kept
    when at least half of its lesion voxels fall inside that brain: a mask in another space is skipped.
    """
    masks = []
    for path in mask_files:
        labels = read_labels(path)
        if labels.mask.any():
            masks.append((path, LabelVolume(labels.mask.astype(np.uint8), labels.affine)))
    out = []
    for case in cases:
        if case.affine is None:
            out.append(case)
            continue
        grid = Grid(case.label.shape, case.affine)
        kept = []
        for path, mask in masks:
            moved = resample(mask, grid).mask
            inside = moved & case.brain
            if inside.sum() >= 0.5 * moved.sum() and inside.any():
                kept.append(np.flatnonzero(inside).astype(np.int64))
            else:
                log.warning("%s: lesion mask lies mostly outside %s's brain (another space?); not used for it",
                            path.name, case.name)
        out.append(replace(case, transplants=tuple(kept)))
    return out


def run_train(cases: list[LabelledCase], out_dir: Path, config: TrainingConfig, *, name: str,
              validation_patients: tuple[str, ...] = (), init_model: Path | None = None,
              preprocessing: PreprocessingConfig | None = None, cache_dir: Path | None = None,
              force: bool = False, progress: bool = True, data_description: str = "",
              lesion_masks: tuple[Path, ...] = (), validation_fraction: float = 0.2) -> Path:
    """Train (or fine-tune from `init_model`) and write a model folder; resumes from its checkpoint.

    `lesion_masks` (files or folders) are whole lesion masks of other patients, in the training images' world
    space, transplanted into the training brains as augmentation (see `training.augmentation`).
    """
    import torch

    from lesionwatch.inference.sliding_window import choose_device
    from lesionwatch.models.unet import UNet3D

    out_dir = Path(out_dir)
    if (out_dir / CARD_NAME).is_file() and not force:
        raise OutputExistsError(f"{out_dir}: already holds a trained model; pass --force to train again.")
    if not cases:
        raise ConfigError("no labelled cases found: check the data folder and the --*-tag options")
    preprocessing = preprocessing or PreprocessingConfig()
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = out_dir / "checkpoint.pt"
    if force and (out_dir / CARD_NAME).is_file():
        checkpoint.unlink(missing_ok=True)
    train_set, val_set = split_by_patient(cases, validation_patients=validation_patients,
                                          validation_fraction=validation_fraction, seed=config.seed)
    if not train_set:
        raise ConfigError("every case fell in the validation split; name fewer --val-patients")
    log.info("%d training cases (%s), %d validation cases (%s)", len(train_set),
             ", ".join(sorted({c.patient for c in train_set})), len(val_set),
             ", ".join(sorted({c.patient for c in val_set})) or "none")
    start = time.monotonic()
    prepared_train = [prepare_case(c, preprocessing, cache_dir) for c in train_set]
    prepared_val = [prepare_case(c, preprocessing, cache_dir) for c in val_set]
    mask_files = lesion_mask_files(lesion_masks)
    if mask_files:
        prepared_train = attach_transplants(prepared_train, mask_files)
    device = choose_device()
    if init_model is not None:
        net, base_card = load_model(init_model, device)
        architecture, architecture_args = base_card.architecture, dict(base_card.architecture_args)
        net.train()
    else:
        net, base_card = UNet3D(len(INPUTS), config.features), None
        architecture, architecture_args = "UNet3D", {"in_channels": len(INPUTS), "features": list(config.features)}

    def report(state: object, loss: float) -> None:
        it = getattr(state, "iteration", 0)
        if progress and it % 10 == 0:
            print(f"\riteration {it}/{config.iterations}  loss {loss:.3f}", end="", file=sys.stderr, flush=True)

    best, state = train(net, prepared_train, prepared_val, config, checkpoint=checkpoint, device=device,
                        on_step=report)
    if progress:
        print(file=sys.stderr)
    net.load_state_dict(best)
    thresholds = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)  # the shipped default sits at 0.5
    val_scores = validate(net, prepared_val, (96, 96, 96), device, thresholds) if prepared_val else {}
    if val_scores:
        threshold = max(val_scores, key=lambda t: val_scores[t])
    else:  # nothing to choose on: keep the starting model's threshold
        threshold = base_card.threshold if base_card is not None else 0.5
    weights = out_dir / WEIGHTS_NAME
    write_atomically(weights, lambda tmp: torch.save({k: v.cpu() for k, v in best.items()}, tmp))
    card = ModelCard(
        name=name, version=__version__, inputs=INPUTS, spacing_mm=preprocessing.working_grid.spacing_mm,
        architecture=architecture, architecture_args=architecture_args,
        weights_sha256=sha256_file(weights), threshold=threshold,
        min_lesion_volume_mm3=base_card.min_lesion_volume_mm3 if base_card else 5.0,
        training={
            "command": " ".join(sys.argv), "recipe": asdict(replace(config)), "data": data_description,
            "fine_tuned_from": base_card.name if base_card else None,
            # the starting model's own record, so a staged or fine-tuned model carries its whole recipe
            "base_training": base_card.training if base_card else None,
            "transplanted_lesion_masks": [p.name for p in mask_files],
            "train_cases": [c.name for c in train_set], "validation_cases": [c.name for c in val_set],
            # every patient whose labels shaped these weights, the starting model's included
            "train_patients": sorted({c.patient for c in train_set}
                                     | set(base_card.training.get("train_patients", []) if base_card else [])
                                     | set(base_card.training.get("validation_patients", []) if base_card else [])),
            "fine_tune_patients": sorted({c.patient for c in train_set}) if base_card else [],
            "validation_patients": sorted({c.patient for c in val_set}),
            "iterations": state.iteration, "best_iteration": state.best_iteration,
            "minutes": round((time.monotonic() - start) / 60, 1), "device": device,
        },
        metrics={"validation_dice_by_threshold": {str(k): round(v, 4) for k, v in val_scores.items()}},
    )
    write_json_atomically(out_dir / "training_log.json", {"history": state.history})
    write_json_atomically(out_dir / CARD_NAME, card.as_dict())
    if val_scores:
        log.info("model written to %s (validation Dice %.3f at threshold %.1f)", out_dir,
                 val_scores.get(threshold, float("nan")), threshold)
    else:
        log.info("model written to %s (no validation cases: threshold %.1f kept from the starting model or 0.5)",
                 out_dir, threshold)
    return out_dir


def combine_models(model_dirs: list[Path], out_dir: Path, *, name: str, threshold: float,
                   min_lesion_volume_mm3: float, metrics: dict[str, Any] | None = None) -> Path:
    """Write one ensemble model folder from several UNet3D folders of the same inputs, spacing and shape.

    The ensemble averages its members' logits. Its card keeps every member's training record and lists the
    union of their patients as its own, so no benchmark can count a member's training patient as unseen.
    """
    import torch

    if len(model_dirs) < 2:
        raise ModelError("an ensemble needs at least two models")
    cards = [read_card(d) for d in model_dirs]
    first = cards[0]
    for d, card in zip(model_dirs, cards, strict=True):
        if (card.architecture != "UNet3D" or card.inputs != first.inputs or card.spacing_mm != first.spacing_mm
                or card.architecture_args != first.architecture_args):
            raise ModelError(f"{d}: not a UNet3D with the same inputs, spacing and shape as {model_dirs[0]}")
    state: dict[str, Any] = {}
    for i, d in enumerate(model_dirs):
        net, _ = load_model(d)  # verifies each member's sha256
        state.update({f"members.{i}.{k}": v.cpu() for k, v in net.state_dict().items()})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / WEIGHTS_NAME
    write_atomically(weights, lambda tmp: torch.save(state, tmp))
    members = [{"name": c.name, "weights_sha256": c.weights_sha256, **c.training} for c in cards]
    card = ModelCard(
        name=name, version=first.version, inputs=first.inputs, spacing_mm=first.spacing_mm,
        architecture="UNetEnsemble", architecture_args={**first.architecture_args, "members": len(cards)},
        weights_sha256=sha256_file(weights), threshold=threshold, min_lesion_volume_mm3=min_lesion_volume_mm3,
        patch_size=first.patch_size, normalization=first.normalization, channel_dropout=first.channel_dropout,
        training={
            "ensemble_of": [str(d) for d in model_dirs], "members": members,
            "train_patients": sorted({p for c in cards for p in c.training.get("train_patients", [])}),
            "validation_patients": sorted({p for c in cards for p in c.training.get("validation_patients", [])}),
        },
        metrics=metrics or {},
    )
    write_json_atomically(out_dir / CARD_NAME, card.as_dict())
    return out_dir
