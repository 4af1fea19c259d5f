"""Metric tests on hand-built masks whose answers are computed by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lesionwatch.io.volume import LabelVolume
from lesionwatch.lesions.metrics import evaluate_change, evaluate_segmentation, hausdorff95_mm


def _mask(shape: tuple[int, int, int], boxes: list[tuple[slice, slice, slice]], spacing: float = 1.0
          ) -> LabelVolume:
    arr = np.zeros(shape, np.uint8)
    for box in boxes:
        arr[box] = 1
    return LabelVolume(arr, np.diag([spacing, spacing, spacing, 1.0]))


S = (20, 20, 20)
A = (slice(2, 4), slice(2, 4), slice(2, 4))  # 8 voxels
B = (slice(10, 13), slice(10, 13), slice(10, 13))  # 27 voxels
C = (slice(15, 16), slice(2, 3), slice(2, 3))  # 1 voxel


def test_hand_computed_case() -> None:
    truth = _mask(S, [A, B])  # two lesions, 35 voxels
    # prediction: half of A (4 voxels), all of B, plus a false positive C
    half_a = (slice(2, 3), slice(2, 4), slice(2, 4))
    pred = _mask(S, [half_a, B, C])  # 4 + 27 + 1 = 32 voxels
    m = evaluate_segmentation(pred, truth)
    # Dice = 2 * 31 / (32 + 35)
    assert m.dice == pytest.approx(62 / 67)
    assert m.precision == pytest.approx(31 / 32)
    assert m.recall == pytest.approx(31 / 35)
    assert (m.truth_lesions, m.predicted_lesions, m.detected_lesions, m.false_positive_lesions) == (2, 3, 2, 1)
    assert m.lesion_tpr == 1.0
    assert m.lesion_fpr == pytest.approx(1 / 3)
    # F1 = 2 * 1 * (2/3) / (1 + 2/3) = 0.8
    assert m.lesion_f1 == pytest.approx(0.8)
    assert m.volume_difference_mm3 == -3.0
    assert m.relative_volume_difference == pytest.approx(-3 / 35)
    assert m.false_positive_volume_mm3 == 1.0
    assert m.by_size["small_lt10"].truth_lesions == 1  # A: 8 mm3
    assert m.by_size["medium_10_100"].truth_lesions == 1  # B: 27 mm3
    assert m.by_size["small_lt10"].false_positive_lesions == 1  # C


def test_voxel_size_enters_volumes_and_size_bins() -> None:
    truth = _mask(S, [A], spacing=2.0)  # 8 voxels of 8 mm3 = 64 mm3
    m = evaluate_segmentation(truth, truth)
    assert m.truth_volume_mm3 == pytest.approx(64.0)
    assert m.by_size["medium_10_100"].detected == 1
    assert m.dice == 1.0 and m.hd95_mm == 0.0


def test_missed_lesion_counts_against_tpr() -> None:
    m = evaluate_segmentation(_mask(S, [B]), _mask(S, [A, B]))
    assert m.lesion_tpr == 0.5 and m.lesion_fpr == 0.0
    assert m.lesion_f1 == pytest.approx(2 * 0.5 / 1.5)
    assert m.by_size["small_lt10"].tpr == 0.0


def test_both_empty_is_perfect() -> None:
    m = evaluate_segmentation(_mask(S, []), _mask(S, []))
    assert m.dice == 1.0 and m.lesion_f1 == 1.0 and m.false_positive_lesions == 0 and m.hd95_mm == 0.0


def test_empty_truth_reports_false_positives() -> None:
    m = evaluate_segmentation(_mask(S, [A, C]), _mask(S, []))
    assert m.dice == 0.0
    assert m.false_positive_lesions == 2 and m.false_positive_volume_mm3 == 9.0
    assert m.lesion_fpr == 1.0 and m.lesion_tpr == 1.0
    assert math.isinf(m.hd95_mm)


def test_empty_prediction_misses_everything() -> None:
    m = evaluate_segmentation(_mask(S, []), _mask(S, [A, B]))
    assert m.dice == 0.0 and m.lesion_tpr == 0.0 and m.lesion_f1 == 0.0 and m.relative_volume_difference == -1.0


def test_26_connectivity_joins_diagonal_voxels() -> None:
    truth = np.zeros(S, np.uint8)
    truth[5, 5, 5] = truth[6, 6, 6] = 1  # touch only at a corner: one lesion under 26-connectivity
    m = evaluate_segmentation(LabelVolume(truth, np.eye(4)), LabelVolume(truth, np.eye(4)))
    assert m.truth_lesions == 1


def test_prediction_on_another_grid_is_resampled() -> None:
    truth = _mask(S, [B])
    coarse = np.zeros((10, 10, 10), np.uint8)
    coarse[5, 5, 5] = 1  # a 2 mm voxel centred at world (10, 10, 10)..(11,11,11) corner region
    pred = LabelVolume(coarse, np.diag([2.0, 2.0, 2.0, 1.0]))
    m = evaluate_segmentation(pred, truth)
    assert m.detected_lesions == 1


def test_hd95_of_shifted_cube() -> None:
    a = np.zeros(S, bool)
    b = np.zeros(S, bool)
    a[5:10, 5:10, 5:10] = True
    b[7:12, 5:10, 5:10] = True  # shifted by 2 voxels
    assert hausdorff95_mm(a, b, (1.0, 1.0, 1.0)) == pytest.approx(2.0)
    assert hausdorff95_mm(a, b, (0.5, 1.0, 1.0)) == pytest.approx(1.0)


def test_change_metrics_count_new_lesions() -> None:
    truth = _mask(S, [A, B])
    pred = _mask(S, [B, C])
    m = evaluate_change(pred, truth)
    assert (m.truth_changes, m.detected_changes, m.false_positive_changes) == (2, 1, 1)
    assert m.tpr == 0.5 and m.f1 == pytest.approx(0.5)
    assert m.change_dice == pytest.approx(2 * 27 / (28 + 35))
