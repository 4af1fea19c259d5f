"""Model folders: `model_card.json` plus weights, located, verified (sha256) and loaded.

A model folder is self-describing: the card names the input sequences in channel order, the working spacing,
the normalisation, the architecture and its arguments, the training data and recipe, validation metrics, the
chosen threshold and minimum lesion volume, and the sha256 of the weights file. Weights are loaded with
`torch.load(..., weights_only=True)` only after the hash matches, and never at import time.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lesionwatch.errors import ModelError
from lesionwatch.paths import PACKAGE_DIR

log = logging.getLogger(__name__)

CARD_NAME = "model_card.json"
WEIGHTS_NAME = "weights.pt"


@dataclass(frozen=True)
class ModelCard:
    """What a model needs and what it is (see the module docstring)."""

    name: str
    version: str
    inputs: tuple[str, ...]
    spacing_mm: float
    architecture: str
    architecture_args: dict[str, Any]
    weights_sha256: str
    threshold: float = 0.5
    min_lesion_volume_mm3: float = 5.0
    patch_size: tuple[int, int, int] = (96, 96, 96)
    normalization: str = "robust z-score in the brain (median, 1.4826 MAD)"
    channel_dropout: str = "missing sequences are zeros; trained with T1 dropped at random"
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    speed: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: Path) -> ModelCard:
        try:
            data = dict(data)
            data["inputs"] = tuple(data["inputs"])
            data["patch_size"] = tuple(data.get("patch_size", (96, 96, 96)))
            return cls(**data)
        except (KeyError, TypeError) as exc:
            raise ModelError(f"{source}: model card is incomplete or malformed ({exc}).") from exc


SIZE_BIN_LABELS = {"small_lt10": "< 10", "medium_10_100": "10-100", "large_gt100": "> 100"}


def validation_summary(card: ModelCard) -> str:
    """One line of what the card says the model scores: per held-out site Dice / lesion F1 (the
    leave-one-site-out table), else its validation Dice at its threshold, else that it records none."""
    table = card.metrics.get("leave_one_site_out")
    if table:
        sites = ", ".join(f"{site} {row['dice']:.3f} / {row['lesion_f1']:.3f}" for site, row in table.items())
        missing = card.metrics.get("not_scored")
        return (f"held out, Dice / lesion F1: {sites}"
                + (f" ({', '.join(missing)} not scored)" if missing else ""))
    dice = card.metrics.get("validation_dice_by_threshold", {}).get(str(card.threshold))
    return f"validation Dice {dice}" if dice is not None else "no validation recorded"


def describe_card(card: ModelCard) -> str:
    """A card for people: identity, inputs, training data and recipe, operating point and the validation table
    (`metrics.leave_one_site_out`, which the validation code writes), as Markdown."""
    training = card.training
    recipe = training.get("recipe") or {}
    members = training.get("members") or []
    lines = [f"{card.name} {card.version} ({card.architecture}, features {card.architecture_args.get('features')}), "
             f"sha256 {card.weights_sha256[:16]}...",
             f"inputs (channel order): {', '.join(card.inputs)}; {card.spacing_mm:g} mm working grid; "
             f"{card.normalization}; {card.channel_dropout}",
             f"trained on: {', '.join(training.get('train_patients', [])) or 'unknown'}"
             + (f"; {recipe.get('iterations')} iterations, seed {recipe.get('seed')}, {training.get('minutes')} min "
                f"on {training.get('device')}" if recipe else "")
             + (f"; the average of {len(members)} networks (seeds "
                f"{', '.join(str((m.get('recipe') or {}).get('seed')) for m in members)}), "
                f"{(members[0].get('recipe') or {}).get('iterations')} iterations each" if members else ""),
             f"operating point: threshold {card.threshold:g}, lesions of at least {card.min_lesion_volume_mm3:g} mm3"]
    table = card.metrics.get("leave_one_site_out")
    if not table:
        return "\n".join([*lines, "validation: none recorded on this card"])
    lines += ["", f"Validation: {card.metrics.get('protocol', 'leave-one-site-out')}.", "",
              "| held-out site | trained on | inputs | scans | Dice | lesion F1 | lesion TPR | lesion FPR | "
              + " | ".join(f"TPR {v} mm3" for v in SIZE_BIN_LABELS.values()) + " |", "|---" * 11 + "|"]
    for site, row in table.items():
        tpr = row.get("lesion_tpr_by_size", {})
        lines.append(f"| {site} | {', '.join(row.get('trained_on', []))} | {row.get('inputs', '')} | "
                     f"{row['scans']} | {row['dice']:.3f} | {row['lesion_f1']:.3f} | {row['lesion_tpr']:.3f} | "
                     f"{row['lesion_fpr']:.3f} | "
                     + " | ".join(f"{tpr.get(k, float('nan')):.2f}" for k in SIZE_BIN_LABELS) + " |")
    missing = card.metrics.get("not_scored")
    if missing:
        lines += ["", f"Not scored on this card: {', '.join(missing)} held out."]
    lines += ["", "| scan | Dice | lesion F1 | truth ml | predicted ml | volume error |", "|---" * 6 + "|"]
    for row in table.values():
        for scan in row.get("per_scan", []):
            error = scan.get("volume_error")
            error_text = "-" if error is None else f"{error * 100:+.0f}%"
            lines.append(f"| {scan['case']} | {scan['dice']:.3f} | {scan['lesion_f1']:.3f} | "
                         f"{scan['truth_ml']:.2f} | {scan['predicted_ml']:.2f} | {error_text} |")
    return "\n".join(lines)


def installed_models_dir() -> Path:
    """The folder of models shipped inside the package."""
    return PACKAGE_DIR / "models" / "weights"


def resolve_model_dir(name_or_path: str | Path) -> Path:
    """A model folder from a path, or the name of an installed model ("default").

    Raises:
        ModelError: neither a folder with a model card nor an installed model name.
    """
    path = Path(name_or_path)
    if (path / CARD_NAME).is_file():
        return path
    installed = installed_models_dir() / str(name_or_path)
    if (installed / CARD_NAME).is_file():
        return installed
    names = ", ".join(p.name for p in list_installed_models()) or "none"
    raise ModelError(
        f"{name_or_path}: not a model folder (no {CARD_NAME}) and not an installed model (installed: {names})."
    )


def list_installed_models() -> list[Path]:
    """Installed model folders, by name."""
    root = installed_models_dir()
    return sorted(p for p in root.iterdir() if (p / CARD_NAME).is_file()) if root.is_dir() else []


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_card(model_dir: Path) -> ModelCard:
    """Read and check a model card."""
    path = Path(model_dir) / CARD_NAME
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the model card ({exc}).") from exc
    return ModelCard.from_dict(data, path)


def load_model(model_dir: Path, device: str = "cpu") -> tuple[Any, ModelCard]:
    """Verify the weights' sha256 against the card, then build the network and load them.

    Returns:
        (torch module in eval mode on `device`, card).

    Raises:
        ModelError: missing weights, hash mismatch (corrupt or tampered file), or weights that do not fit.
    """
    import torch

    from lesionwatch.models.unet import ARCHITECTURES

    card = read_card(model_dir)
    weights = Path(model_dir) / WEIGHTS_NAME
    if not weights.is_file():
        raise ModelError(f"{weights}: weights file missing from the model folder.")
    actual = sha256_file(weights)
    if actual != card.weights_sha256:
        raise ModelError(
            f"{weights}: sha256 {actual[:16]}... does not match the model card ({card.weights_sha256[:16]}...). "
            "The file is corrupt or was replaced; reinstall lesionwatch or retrain the model."
        )
    if card.architecture not in ARCHITECTURES:
        raise ModelError(f"{model_dir}: unknown architecture {card.architecture!r}.")
    net = ARCHITECTURES[card.architecture](**card.architecture_args)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise ModelError(f"{weights}: the weights do not fit the architecture in the card ({exc}).") from exc
    net.eval().to(device)
    log.debug("loaded model %s %s from %s on %s", card.name, card.version, model_dir, device)
    return net, card
