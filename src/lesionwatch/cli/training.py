"""Commands that make models: train and fine-tune."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lesionwatch.cli.main import STATE
from lesionwatch.cli.options import (
    DEFAULT_AUGMENTATION,
    DEFAULT_FEATURES,
    DEFAULT_THICK_SLICE_MM,
    DEFAULT_TRAINING,
    OutOpt,
    parse_range,
)
from lesionwatch.errors import ConfigError
from lesionwatch.training.augmentation import AugmentationConfig
from lesionwatch.training.config import TrainingConfig
from lesionwatch.training.data import LabelledCase


def _tags(value: str) -> tuple[str, ...]:
    return tuple(t.strip().lower() for t in value.split(",") if t.strip())


def _find_cases(data: list[Path], flair_tag: str, t1_tag: str, mask_tag: str, excluded: list[str]
                ) -> list[LabelledCase]:
    """Labelled cases under every data folder, less the excluded patients (by full or short name)."""
    from lesionwatch.errors import InputFileNotFoundError
    from lesionwatch.training.data import find_bids_cases, find_tagged_cases

    cases: list[LabelledCase] = []
    for root in data:
        if not root.is_dir():
            raise InputFileNotFoundError(f"{root}: training data folder not found.")
        if (root / "dataset_description.json").is_file() or list(root.glob("sub-*")):
            cases += find_bids_cases(root)
        else:
            cases += find_tagged_cases(root, flair_tags=_tags(flair_tag), t1_tags=_tags(t1_tag),
                                       mask_tags=_tags(mask_tag))
    return [c for c in cases if c.patient not in excluded and c.patient.split("/")[-1] not in excluded]


DataArg = Annotated[list[Path], typer.Argument(help="BIDS dataset(s) or folder(s) of subjects with tagged files.")]
FlairTag = Annotated[str, typer.Option("--flair-tag", help="Comma list of FLAIR file tags.")]
T1Tag = Annotated[str, typer.Option("--t1-tag", help="Comma list of T1 file tags.")]
MaskTag = Annotated[str, typer.Option("--mask-tag", help="Comma list of lesion-mask file tags.")]
ValOpt = Annotated[list[str] | None, typer.Option(
    "--val-patients", help="Patients kept for validation (early stopping, threshold choice).")]
ValFracOpt = Annotated[float, typer.Option(
    "--val-fraction", min=0.0, max=0.9, help="Share of patients drawn for validation when --val-patients is not "
    "given; 0 trains on every patient for the whole budget and keeps the last weights.")]
ExclOpt = Annotated[list[str] | None, typer.Option("--exclude-patients", help="Patients left out entirely (test).")]
CacheOpt = Annotated[Path | None, typer.Option("--cache", help="Folder caching preprocessed cases.")]
MasksOpt = Annotated[list[Path] | None, typer.Option(
    "--lesion-masks", help="Lesion masks of other patients (files or folders, same world space as the training "
    "images, no images needed), transplanted into the training brains as augmentation.")]



def train(
    data: DataArg,
    out: OutOpt,
    flair_tag: FlairTag = "flair",
    t1_tag: T1Tag = "t1",
    mask_tag: MaskTag = "mask",
    val_patients: ValOpt = None,
    exclude_patients: ExclOpt = None,
    iterations: Annotated[int, typer.Option("--iterations", min=1)] = DEFAULT_TRAINING.iterations,
    max_minutes: Annotated[float, typer.Option(
        "--max-minutes", help="Wall-clock budget.")] = DEFAULT_TRAINING.max_minutes,
    seed: Annotated[int, typer.Option("--seed")] = DEFAULT_TRAINING.seed,
    name: Annotated[str, typer.Option("--name", help="Model name for its card.")] = "lesionwatch-unet",
    features: Annotated[str, typer.Option("--features", help="U-Net feature counts per level.")] = DEFAULT_FEATURES,
    cache: CacheOpt = None,
    lesion_masks: MasksOpt = None,
    val_fraction: ValFracOpt = 0.2,
    per_lesion_fraction: Annotated[float, typer.Option(
        "--per-lesion-fraction", min=0.0, max=1.0, help="Share of lesion-centred patches that pick a lesion "
        "uniformly (small ones as often as large) rather than a lesion voxel.")
    ] = DEFAULT_AUGMENTATION.per_lesion_fraction,
    blob_weight: Annotated[float, typer.Option(
        "--blob-weight", min=0.0, help="Weight of the per-lesion Dice term (blob loss) added to Dice + BCE.")
    ] = DEFAULT_TRAINING.blob_weight,
    learning_rate: Annotated[float, typer.Option(
        "--learning-rate", min=0.0, help="Initial Adam learning rate (cosine decay to 5% of it).")
    ] = DEFAULT_TRAINING.learning_rate,
    drop_t1: Annotated[float, typer.Option(
        "--drop-t1", min=0.0, max=1.0, help="Share of patches whose T1 is dropped (zeros, as for a study without "
        "a T1), so the model also segments from the FLAIR alone.")] = DEFAULT_AUGMENTATION.p_drop_t1,
    thick_slices: Annotated[float, typer.Option(
        "--thick-slices", min=0.0, max=1.0, help="Share of patches (per sequence) blurred and resampled as thick "
        "slices (3-5 mm along a random axis), as 2D clinical scans are.")] = DEFAULT_AUGMENTATION.p_thick_slices,
    thick_slice_mm: Annotated[str, typer.Option(
        "--thick-slice-mm", help="Slice thickness range (LO,HI mm) of the simulated thick-slice acquisitions.")
    ] = DEFAULT_THICK_SLICE_MM,
    lesion_contrast: Annotated[str | None, typer.Option(
        "--lesion-contrast", help="Transplanted and pasted lesions take the FLAIR of the tissue under them times a "
        "ratio in LO,HI (e.g. 1.1,2: faint to very bright) and a T1 from isointense to black hole, instead of the "
        "training lesions' own intensities.")] = None,
    confluent: Annotated[float, typer.Option(
        "--confluent", min=0.0, max=1.0, help="Share of patches given a synthetic confluent periventricular lesion "
        "band (heavy lesion load).")] = DEFAULT_AUGMENTATION.p_confluent,
    patch_size: Annotated[int, typer.Option(
        "--patch-size", min=16, help="Edge of the cubic training patches, in working-grid voxels (1 mm).")
    ] = DEFAULT_AUGMENTATION.patch_size[0],
    continue_from: Annotated[str | None, typer.Option(
        "--continue-from", help="Start from this model's weights (name or folder) instead of a random "
        "initialisation: a further training stage with a fresh schedule; its architecture wins over --features.")
    ] = None,
) -> None:
    """Train a lesion segmentation model; rerun the same command to resume after an interruption."""
    from lesionwatch.models.card import resolve_model_dir
    from lesionwatch.workflows.train import run_train

    cases = _find_cases(data, flair_tag, t1_tag, mask_tag, exclude_patients or [])
    try:
        feats = tuple(int(f) for f in features.split(","))
    except ValueError as exc:
        raise ConfigError(f"--features {features!r}: expected comma-separated integers such as 12,24,48,96") from exc
    augmentation = AugmentationConfig(
        per_lesion_fraction=per_lesion_fraction, p_drop_t1=drop_t1, p_thick_slices=thick_slices,
        thick_slice_mm=parse_range("--thick-slice-mm", thick_slice_mm),
        lesion_contrast=None if lesion_contrast is None else parse_range("--lesion-contrast", lesion_contrast),
        p_confluent=confluent, patch_size=(patch_size, patch_size, patch_size))
    config = TrainingConfig(iterations=iterations, max_minutes=max_minutes, seed=seed, features=feats,
                            blob_weight=blob_weight, learning_rate=learning_rate, augmentation=augmentation)
    init = resolve_model_dir(continue_from) if continue_from is not None else None
    run_train(cases, out, config, name=name, validation_patients=tuple(val_patients or ()), cache_dir=cache,
              init_model=init,
              force=STATE.force, progress=STATE.progress, data_description=", ".join(str(d) for d in data),
              lesion_masks=tuple(lesion_masks or ()), validation_fraction=val_fraction)
    typer.echo(f"model written to {out}")


def finetune(
    data: DataArg,
    out: OutOpt,
    from_model: Annotated[str, typer.Option("--from", help="Model to start from (name or folder).")] = "default",
    flair_tag: FlairTag = "flair",
    t1_tag: T1Tag = "t1",
    mask_tag: MaskTag = "mask",
    val_patients: ValOpt = None,
    val_fraction: ValFracOpt = 0.2,
    exclude_patients: ExclOpt = None,
    iterations: Annotated[int, typer.Option("--iterations", min=1)] = 400,
    max_minutes: Annotated[float, typer.Option("--max-minutes")] = 25.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    cache: CacheOpt = None,
    lesion_masks: MasksOpt = None,
    learning_rate: Annotated[float, typer.Option("--learning-rate", min=0.0, help="Adam learning rate.")] = 3e-4,
    anchor_weight: Annotated[float, typer.Option(
        "--anchor-weight", min=0.0, help="L2-SP pull towards the starting model's weights (0: none); keeps a "
        "few scans from dragging the model to their own lesion load.")] = 0.0,
) -> None:
    """Adapt a trained model to a site's own labelled scans (one to a few), in minutes on a CPU."""
    from lesionwatch.models.card import resolve_model_dir
    from lesionwatch.workflows.train import run_train

    cases = _find_cases(data, flair_tag, t1_tag, mask_tag, exclude_patients or [])
    base = resolve_model_dir(from_model)
    config = TrainingConfig(iterations=iterations, max_minutes=max_minutes, seed=seed, learning_rate=learning_rate,
                            validate_every=50, patience=4, anchor_weight=anchor_weight)
    run_train(cases, out, config, name=f"{base.name}-finetuned", validation_patients=tuple(val_patients or ()),
              init_model=base, cache_dir=cache, force=STATE.force, progress=STATE.progress,
              data_description=", ".join(str(d) for d in data), lesion_masks=tuple(lesion_masks or ()),
              validation_fraction=val_fraction)
    typer.echo(f"fine-tuned model written to {out}")
