"""The accuracy benchmark's threshold sweep, on a hand-built probability map whose best operating point is known."""

from __future__ import annotations

import json
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
    assert all(r["grown"] is False for r in records)  # no growth region written: scored as thresholded
    assert "threshold 0.30 / 10 mm3" in text and "| case1 | 1.000 | 1.000 |" in text


def test_sweep_scores_growth_where_the_run_wrote_a_region(tmp_path: Path,
                                                          load_benchmark: Callable[[str], ModuleType]) -> None:
    bench = load_benchmark("accuracy")
    affine = np.eye(4)
    truth = np.zeros((30, 30, 30), np.uint8)
    truth[5:10, 5:10, 5:10] = 1
    prob = np.zeros(truth.shape, np.float32)
    prob[6:9, 6:9, 6:9] = 0.9  # the network finds the lesion's core only
    region = np.zeros(truth.shape, np.uint8)
    region[5:10, 5:10, 5:10] = 1  # the FLAIR-hyperintense extent
    region[20:25, 20:25, 20:25] = 1  # hyperintense elsewhere: not a lesion, not grown into
    nib.save(nib.Nifti1Image(truth, affine), tmp_path / "truth.nii.gz")
    case_dir = tmp_path / "out" / "case1"
    case_dir.mkdir(parents=True)
    nib.save(nib.Nifti1Image(prob, affine), case_dir / "lesion_probability_space-native.nii.gz")
    nib.save(nib.Nifti1Image(region, affine), case_dir / "lesion_growth_region_space-native.nii.gz")
    case = bench.Case("case1", "p1", tmp_path / "truth.nii.gz", None, tmp_path / "truth.nii.gz")

    text, records = bench.sweep([{"case": "case1", "role": "test"}], {"case1": case}, tmp_path / "out",
                                thresholds=(0.5,), min_volumes=(0.0,))

    at = {r["grown"]: r for r in records}
    assert at[True]["dice"] == 1.0 and at[True]["lesion_f1"] == 1.0
    assert at[False]["dice"] == 2 * 27 / (27 + 125)
    assert "| 0.50 | 0 | yes | 1.000 | 1.000 | 1.000 |" in text


def test_sweep_drops_midline_lesions_where_the_run_did(tmp_path: Path,
                                                      load_benchmark: Callable[[str], ModuleType]) -> None:
    bench = load_benchmark("accuracy")
    affine = np.eye(4)
    affine[0, 3] = -15.0  # world x = voxel i - 15: the mid-sagittal plane runs through i = 15
    truth = np.zeros((30, 30, 30), np.uint8)
    truth[3:8, 5:10, 5:10] = 1  # a lateral lesion
    prob = np.zeros(truth.shape, np.float32)
    prob[3:8, 5:10, 5:10] = 0.9
    prob[13:17, 18:24, 18:24] = 0.9  # bright at the midline, in the "cortex": a false positive
    regions = np.full(truth.shape, 2, np.uint8)  # cortex everywhere
    for name, image in (("truth.nii.gz", truth), ("out/case1/lesion_probability_space-native.nii.gz", prob),
                        ("out/case1/regions_space-native.nii.gz", regions)):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(image, affine), tmp_path / name)
    case = bench.Case("case1", "p1", tmp_path / "truth.nii.gz", None, tmp_path / "truth.nii.gz")
    scores = {}
    for midline_mm in (0.0, 5.0):
        (tmp_path / "out/case1/provenance.json").write_text(json.dumps(
            {"config": {"segmentation": {"midline_mm": midline_mm}}, "patient_to_template": np.eye(4).tolist()}))
        _, records = bench.sweep([{"case": "case1", "role": "test"}], {"case1": case}, tmp_path / "out",
                                 thresholds=(0.5,), min_volumes=(0.0,))
        scores[midline_mm] = records[0]
    assert scores[0.0]["lesion_f1"] < 1.0  # the run kept midline lesions: the false positive counts
    assert scores[5.0]["dice"] == 1.0 and scores[5.0]["lesion_f1"] == 1.0


def test_sweep_drops_faint_lesions_where_the_run_did_or_the_caller_asks(
        tmp_path: Path, load_benchmark: Callable[[str], ModuleType]) -> None:
    bench = load_benchmark("accuracy")
    affine = np.eye(4)
    rng = np.random.default_rng(0)
    flair = rng.normal(100.0, 10.0, (30, 30, 30)).astype(np.float32)
    truth = np.zeros(flair.shape, np.uint8)
    truth[5:9, 5:9, 5:9] = 1  # a 64 mm3 lesion, bright on FLAIR
    flair[5:9, 5:9, 5:9] += 40.0
    prob = np.zeros(flair.shape, np.float32)
    prob[5:9, 5:9, 5:9] = 0.9
    prob[18:22, 18:22, 18:22] = 0.9  # 64 mm3 of ordinary tissue: a false positive that does not stand out
    brain = np.ones(flair.shape, np.uint8)
    for name, image in (("truth.nii.gz", truth), ("out/case1/lesion_probability_space-native.nii.gz", prob),
                        ("out/case1/flair_space-native_desc-biascorrected.nii.gz", flair),
                        ("out/case1/brain_mask_space-native.nii.gz", brain)):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(image, affine), tmp_path / name)
    case = bench.Case("case1", "p1", tmp_path / "truth.nii.gz", None, tmp_path / "truth.nii.gz")
    step = {"min_focal_contrast": 0.5, "focal_contrast_max_volume_mm3": 100.0}

    def score(recorded: dict[str, float], override: dict[str, float] | None = None) -> float:
        (tmp_path / "out/case1/provenance.json").write_text(json.dumps({"config": {"segmentation": recorded}}))
        _, records = bench.sweep([{"case": "case1", "role": "test"}], {"case1": case}, tmp_path / "out",
                                 thresholds=(0.5,), min_volumes=(0.0,), segmentation=override)
        return float(records[0]["lesion_f1"])

    assert score({}) < 1.0  # a run without the step: the false positive counts
    assert score(step) == 1.0  # a run with it: dropped at every point, as segment did
    assert score({}, step) == 1.0  # an old run replayed through the step
    assert score(step, {"min_focal_contrast": 0.0}) < 1.0  # and a run with it replayed without
