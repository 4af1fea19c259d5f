"""Evaluation metrics for lesion segmentation and lesion change detection: the one harness every accuracy figure
of lesionwatch goes through.

Voxel-wise: Dice, precision, recall, absolute and relative volume difference, 95th-percentile Hausdorff distance.
Lesion-wise (26-connected components): a truth lesion is detected when any predicted voxel overlaps it; a
predicted lesion is a false positive when it overlaps no truth voxel. Lesion TPR = detected / truth lesions;
lesion FPR = false-positive lesions / predicted lesions (as in Commowick et al., Sci Rep 2018 and MSSEG-2);
lesion F1 = harmonic mean of TPR and (1 - FPR). Everything is also reported per lesion size bin (truth lesions
binned for recall, predicted lesions for false positives). Empty truth and empty prediction are normal cases: the
false-positive count and volume are reported, and Dice is 1 when both are empty.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lesionwatch.io.volume import LabelVolume
from lesionwatch.lesions.components import component_sizes, label_lesions
from lesionwatch.preprocessing.resampling import Grid, resample

SIZE_BINS_MM3: tuple[tuple[str, float, float], ...] = (
    ("small_lt10", 0.0, 10.0), ("medium_10_100", 10.0, 100.0), ("large_gt100", 100.0, math.inf),
)


@dataclass(frozen=True)
class SizeBinMetrics:
    """Lesion detection within one size bin."""

    truth_lesions: int
    detected: int
    tpr: float
    predicted_lesions: int
    false_positive_lesions: int


@dataclass(frozen=True)
class SegmentationMetrics:
    """Every figure comparing one predicted mask with one truth mask."""

    dice: float
    precision: float
    recall: float
    truth_volume_mm3: float
    predicted_volume_mm3: float
    volume_difference_mm3: float
    relative_volume_difference: float
    hd95_mm: float
    truth_lesions: int
    predicted_lesions: int
    detected_lesions: int
    false_positive_lesions: int
    false_positive_volume_mm3: float
    lesion_tpr: float
    lesion_fpr: float
    lesion_f1: float
    by_size: dict[str, SizeBinMetrics] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentationMetrics:
        """The metrics `as_dict` wrote (a benchmark's saved JSON)."""
        return cls(**{**data, "by_size": {k: SizeBinMetrics(**v) for k, v in data.get("by_size", {}).items()}})


def _ratio(num: float, den: float, empty: float) -> float:
    return float(num / den) if den > 0 else empty


def dice_score(pred: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_]) -> float:
    """Dice coefficient; 1.0 when both masks are empty."""
    total = int(pred.sum()) + int(truth.sum())
    return _ratio(2.0 * np.logical_and(pred, truth).sum(), total, 1.0)


def _surface(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    return np.asarray(mask & ~ndimage.binary_erosion(mask, structure=np.ones((3, 3, 3), bool)))


def hausdorff95_mm(pred: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_],
                   spacing_mm: tuple[float, float, float]) -> float:
    """Symmetric 95th percentile surface distance in mm; 0 when both are empty, inf when only one is."""
    if not pred.any() and not truth.any():
        return 0.0
    if not pred.any() or not truth.any():
        return math.inf
    sp, st = _surface(pred), _surface(truth)
    dist_to_truth = ndimage.distance_transform_edt(~st, sampling=spacing_mm)
    dist_to_pred = ndimage.distance_transform_edt(~sp, sampling=spacing_mm)
    distances = np.concatenate([dist_to_truth[sp], dist_to_pred[st]])
    return float(np.percentile(distances, 95))


def _on_truth_grid(pred: LabelVolume, truth: LabelVolume) -> npt.NDArray[np.bool_]:
    if pred.same_grid(truth):
        return pred.mask
    return resample(pred.with_array(pred.mask.astype(np.uint8)), Grid.of(truth)).mask


def _detection(pred: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_], voxel_mm3: float
               ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.bool_],
                          npt.NDArray[np.float64]]:
    """Per truth lesion: detected?, volume; per predicted lesion: touches truth?, volume."""
    t_labels, nt = label_lesions(truth)
    p_labels, npred = label_lesions(pred)
    t_sizes = component_sizes(t_labels, nt) * voxel_mm3
    p_sizes = component_sizes(p_labels, npred) * voxel_mm3
    detected = np.zeros(nt, bool)
    hit_truth = np.unique(t_labels[pred & (t_labels > 0)])
    detected[hit_truth - 1] = True
    touches = np.zeros(npred, bool)
    hit_pred = np.unique(p_labels[truth & (p_labels > 0)])
    touches[hit_pred - 1] = True
    return detected, t_sizes.astype(float), touches, p_sizes.astype(float)


def _f1(tpr: float, precision: float) -> float:
    return _ratio(2 * tpr * precision, tpr + precision, 0.0)


def evaluate_segmentation(pred: LabelVolume, truth: LabelVolume, *, surface_distance: bool = True
                          ) -> SegmentationMetrics:
    """Compare a predicted lesion mask with the truth.

    Args:
        pred: predicted mask (non-zero = lesion), any grid; resampled onto the truth grid by nearest neighbour
            through the affines when the grids differ.
        truth: truth mask.
        surface_distance: compute the 95th percentile Hausdorff distance (the slow part; NaN when False, as in
            threshold sweeps).

    Returns:
        SegmentationMetrics; lesion TPR is 1 and FPR 0 when there is nothing to find or nothing found.
    """
    p = _on_truth_grid(pred, truth)
    t = truth.mask
    voxel = truth.voxel_volume_mm3
    detected, t_sizes, touches, p_sizes = _detection(p, t, voxel)
    n_t, n_p = len(t_sizes), len(p_sizes)
    n_fp = int((~touches).sum())
    tpr = _ratio(detected.sum(), n_t, 1.0)
    fpr = _ratio(n_fp, n_p, 0.0)
    by_size = {}
    for name, lo, hi in SIZE_BINS_MM3:
        in_t = (t_sizes >= lo) & (t_sizes < hi)
        in_p = (p_sizes >= lo) & (p_sizes < hi)
        by_size[name] = SizeBinMetrics(int(in_t.sum()), int(detected[in_t].sum()),
                                       _ratio(detected[in_t].sum(), in_t.sum(), 1.0), int(in_p.sum()),
                                       int((~touches[in_p]).sum()))
    tv, pv = float(t.sum() * voxel), float(p.sum() * voxel)
    inter = float(np.logical_and(p, t).sum())
    return SegmentationMetrics(
        dice=dice_score(p, t),
        precision=_ratio(inter, p.sum(), 1.0 if not t.any() else 0.0),
        recall=_ratio(inter, t.sum(), 1.0),
        truth_volume_mm3=tv,
        predicted_volume_mm3=pv,
        volume_difference_mm3=pv - tv,
        relative_volume_difference=_ratio(pv - tv, tv, 0.0 if pv == 0 else math.inf),
        hd95_mm=hausdorff95_mm(p, t, truth.spacing_mm) if surface_distance else math.nan,
        truth_lesions=n_t,
        predicted_lesions=n_p,
        detected_lesions=int(detected.sum()),
        false_positive_lesions=n_fp,
        false_positive_volume_mm3=float(p_sizes[~touches].sum()),
        lesion_tpr=tpr,
        lesion_fpr=fpr,
        lesion_f1=_f1(tpr, 1.0 - fpr),
        by_size=by_size,
    )


@dataclass(frozen=True)
class ChangeMetrics:
    """Detection of new and enlarging lesion activity against a truth change mask."""

    truth_changes: int
    detected_changes: int
    predicted_changes: int
    false_positive_changes: int
    tpr: float
    f1: float
    change_dice: float
    false_positive_volume_mm3: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_change(pred_change: LabelVolume, truth_change: LabelVolume) -> ChangeMetrics:
    """Compare a predicted change mask (new + enlarging tissue) with a truth change mask.

    Change regions are matched as lesions are: a truth change is detected when a predicted change voxel
    overlaps it; a predicted change that overlaps no truth voxel is a false positive.
    """
    p = _on_truth_grid(pred_change, truth_change)
    t = truth_change.mask
    detected, t_sizes, touches, p_sizes = _detection(p, t, truth_change.voxel_volume_mm3)
    tpr = _ratio(detected.sum(), len(t_sizes), 1.0)
    precision = _ratio(touches.sum(), len(p_sizes), 1.0)
    return ChangeMetrics(
        truth_changes=len(t_sizes), detected_changes=int(detected.sum()), predicted_changes=len(p_sizes),
        false_positive_changes=int((~touches).sum()), tpr=tpr,
        f1=_f1(tpr, precision) if len(t_sizes) or len(p_sizes) else 1.0,
        change_dice=dice_score(p, t), false_positive_volume_mm3=float(p_sizes[~touches].sum()),
    )


def mean_metrics(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, float]:
    """Mean of numeric `keys` over rows (infinite and NaN values are left out)."""
    out = {}
    for key in keys:
        values = [float(r[key]) for r in rows if key in r and math.isfinite(float(r[key]))]
        out[key] = float(np.mean(values)) if values else float("nan")
    return out
