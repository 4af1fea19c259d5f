"""The evaluate workflow: compare a predicted mask with a truth mask (segmentation or change)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lesionwatch.errors import ConfigError, InputImageError
from lesionwatch.io.atomic import write_json_atomically
from lesionwatch.io.nifti import read_mask
from lesionwatch.io.volume import LabelVolume
from lesionwatch.lesions.metrics import evaluate_change, evaluate_segmentation


def fraction_outside(pred: LabelVolume, truth: LabelVolume) -> float:
    """The fraction of `pred`'s lesion voxels whose centres (world coordinates) fall outside `truth`'s field of
    view; 0 for an empty mask or one on the same grid."""
    if pred.same_grid(truth) or not pred.mask.any():
        return 0.0
    voxels = np.argwhere(pred.mask).astype(np.float64)
    world = voxels @ pred.affine[:3, :3].T + pred.affine[:3, 3]
    to_truth = np.linalg.inv(truth.affine)
    index = world @ to_truth[:3, :3].T + to_truth[:3, 3]
    inside = np.all((index >= -0.5) & (index < np.asarray(truth.shape) - 0.5), axis=1)
    return float(1.0 - inside.mean())


def run_evaluate(pred: Path, truth: Path, *, change: bool = False, json_out: Path | None = None) -> dict[str, Any]:
    """Read both masks, compute the metrics, optionally write them as JSON, and return them.

    Raises:
        ConfigError: `json_out` is a folder.
        InputFileNotFoundError, InputImageError: a mask is missing, unreadable or not a mask, or most of the
            prediction's lesions lie outside the truth's field of view (masks of two spaces).
    """
    if json_out is not None and Path(json_out).is_dir():
        raise ConfigError(f"{json_out}: --json names a folder; give a file name such as "
                          f"{Path(json_out) / 'metrics.json'}")
    p, t = read_mask(pred), read_mask(truth)
    outside = fraction_outside(p, t)
    if outside > 0.5:
        raise InputImageError(
            f"{pred}: {outside:.0%} of its lesion voxels lie outside the field of view of {truth}; the two masks "
            "are in different spaces (a native-grid mask against an MNI-space one?). Compare masks of one space.")
    metrics = evaluate_change(p, t).as_dict() if change else evaluate_segmentation(p, t).as_dict()
    record = {"prediction": str(pred), "truth": str(truth), "kind": "change" if change else "segmentation",
              "metrics": metrics}
    if json_out is not None:
        write_json_atomically(Path(json_out), record)
    return record


def format_metrics(record: dict[str, Any]) -> str:
    """A plain-text table of a metrics record."""
    m = record["metrics"]
    lines = [f"{record['kind']}: {record['prediction']} vs {record['truth']}"]
    for key, value in m.items():
        if key == "by_size":
            for name, b in value.items():
                lines.append(f"  {name:<22} truth {b['truth_lesions']:>4}  detected {b['detected']:>4}  "
                             f"TPR {b['tpr']:.3f}  predicted {b['predicted_lesions']:>4}  "
                             f"FP {b['false_positive_lesions']:>4}")
        else:
            lines.append(f"  {key:<28} {value:.4f}" if isinstance(value, float) else f"  {key:<28} {value}")
    return "\n".join(lines)
