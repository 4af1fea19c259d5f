"""The accuracy benchmark's threshold sweep, on a hand-built probability map whose best operating point is known."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import nibabel as nib
import numpy as np


def test_sweep_keeps_every_case_and_finds_the_best_point(tmp_path: Path,
                                                         load_benchmark: Callable[[str], ModuleType]) -> None:
    bench = load_benchmark("accuracy")
    affine = np.eye(4)
    truth = np.zeros((30, 30, 30), np.uint8)
    truth[5:10, 5:10, 5:10] = 1  # a 125 mm3 lesion
    prob = np.zeros(truth.shape, np.float32)
    prob[5:10, 5:10, 5:10] = 0.35  # found only at thresholds <= 0.3
    prob[20:22, 20:22, 20:22] = 0.9  # an 8 mm3 false positive, removed by a 10 mm3 minimum volume
    nib.save(nib.Nifti1Image(truth, affine), tmp_path / "truth.nii.gz")
    case_dir = tmp_path / "out" / "case1"
    case_dir.mkdir(parents=True)
    nib.save(nib.Nifti1Image(prob, affine), case_dir / "lesion_probability_space-native.nii.gz")
    case = bench.Case("case1", "p1", tmp_path / "truth.nii.gz", None, tmp_path / "truth.nii.gz")
    rows = [{"case": "case1", "role": "test"}, {"case": "seen", "role": "train"}]

    text, records = bench.sweep(rows, {"case1": case}, tmp_path / "out", thresholds=(0.3, 0.5),
                                min_volumes=(0.0, 10.0))

    assert len(records) == 4 and {r["case"] for r in records} == {"case1"}  # the seen case is not swept
    at = {(r["threshold"], r["min_lesion_volume_mm3"]): r for r in records}
    assert at[0.3, 10.0]["dice"] == 1.0 and at[0.3, 10.0]["lesion_f1"] == 1.0
    assert at[0.3, 0.0]["lesion_f1"] < 1.0  # the speck counts as a false positive
    assert at[0.5, 0.0]["dice"] == 0.0  # lesion missed, speck kept
    assert "threshold 0.30 / 10 mm3" in text and "| case1 | 1.000 | 1.000 |" in text
