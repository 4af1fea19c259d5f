"""The evaluate workflow: compare a predicted mask with a truth mask (segmentation or change)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lesionwatch.errors import ConfigError
from lesionwatch.io.atomic import write_json_atomically
from lesionwatch.io.nifti import read_mask
from lesionwatch.lesions.metrics import evaluate_change, evaluate_segmentation


def run_evaluate(pred: Path, truth: Path, *, change: bool = False, json_out: Path | None = None) -> dict[str, Any]:
    """Read both masks, compute the metrics, optionally write them as JSON, and return them.

    Raises:
        ConfigError: `json_out` is a folder.
        InputFileNotFoundError, InputImageError: a mask is missing, unreadable or not a mask.
    """
    if json_out is not None and Path(json_out).is_dir():
        raise ConfigError(f"{json_out}: --json names a folder; give a file name such as "
                          f"{Path(json_out) / 'metrics.json'}")
    p, t = read_mask(pred), read_mask(truth)
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
