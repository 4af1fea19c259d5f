from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lesionwatch.cli.main import main
from lesionwatch.io.nifti import write_nifti
from lesionwatch.synth import SynthConfig, generate_case
from lesionwatch.training.augmentation import AugmentationConfig, lesion_shape_bank, sample_patch
from lesionwatch.training.data import PreparedCase, find_tagged_cases, split_by_patient


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_tags_match_first_or_last_token_and_patients_group_time_points(tmp_path: Path) -> None:
    for tp in ("T1", "T2"):
        for seq in ("FLAIR", "T1", "MASK"):
            _touch(tmp_path / "P14" / tp / f"P14_{tp}_{seq}.nii.gz")
    _touch(tmp_path / "p26" / "FLAIR_N4_brain.nii.gz")
    _touch(tmp_path / "p26" / "T1_N4_brain.nii.gz")
    _touch(tmp_path / "p26" / "T1POST_N4_brain.nii.gz")
    _touch(tmp_path / "p26" / "GOLD_STANDARD.nii.gz")
    cases = find_tagged_cases(tmp_path, mask_tags=("mask", "gold"))
    by_name = {c.name: c for c in cases}
    assert set(by_name) == {"P14_T1", "P14_T2", "p26"}
    assert by_name["P14_T1"].flair.name == "P14_T1_FLAIR.nii.gz"
    assert by_name["P14_T1"].t1 is not None and by_name["P14_T1"].t1.name == "P14_T1_T1.nii.gz"
    assert by_name["p26"].t1 is not None and by_name["p26"].t1.name == "T1_N4_brain.nii.gz"
    assert by_name["P14_T1"].patient == by_name["P14_T2"].patient
    train, val = split_by_patient(cases, validation_patients=("P14",))
    assert {c.name for c in val} == {"P14_T1", "P14_T2"} and [c.name for c in train] == ["p26"]


def test_patches_have_the_right_shape_and_keep_labels_binary() -> None:
    rng = np.random.default_rng(0)
    label = np.zeros((70, 70, 70), np.uint8)
    label[30:36, 30:36, 30:36] = 1
    brain = np.zeros_like(label, bool)
    brain[5:65, 5:65, 5:65] = True
    channels = np.stack([np.where(label, 3.0, 0.0), np.zeros(label.shape)]).astype(np.float32)
    case = PreparedCase("c", "p", channels, label, brain)
    shapes = lesion_shape_bank([case])
    assert len(shapes) == 1
    cfg = AugmentationConfig(patch_size=(32, 32, 32), p_synthetic_lesions=1.0)
    for _ in range(5):
        img, lab = sample_patch(case, rng, cfg, shapes)
        assert img.shape == (2, 32, 32, 32) and lab.shape == (1, 32, 32, 32)
        assert set(np.unique(lab)) <= {0.0, 1.0}


@pytest.mark.slow
def test_train_resumes_and_finetune_starts_from_a_model(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for seed in (1, 2):
        case = generate_case(seed, SynthConfig(spacing_mm=3.0, skull_stripped=True, lesion_count=(6, 8),
                                               lesion_volume_mm3=(200.0, 2000.0)))
        tp = case.timepoints[0]
        folder = data / f"P{seed}"
        write_nifti(tp.images["flair"], folder / f"P{seed}_FLAIR.nii.gz")
        write_nifti(tp.images["t1"], folder / f"P{seed}_T1.nii.gz")
        write_nifti(tp.lesions.with_array((tp.lesions.array > 0).astype(np.uint8)), folder / f"P{seed}_MASK.nii.gz")
    model = tmp_path / "model"
    argv = ["--no-progress", "train", str(data), "--out", str(model), "--val-patients", "P2", "--cache",
            str(tmp_path / "cache"), "--name", "tiny-test", "--features", "4,8"]
    assert main([*argv, "--iterations", "2"]) == 0
    first = json.loads((model / "model_card.json").read_text())
    assert first["training"]["iterations"] == 2
    assert first["training"]["validation_patients"] == ["data/P2"]
    # an interrupted run leaves its checkpoint and no card: rerunning resumes instead of starting again
    (model / "model_card.json").unlink()
    (model / "weights.pt").unlink()
    assert main([*argv, "--iterations", "4"]) == 0
    resumed = json.loads((model / "model_card.json").read_text())
    assert resumed["training"]["iterations"] == 4
    history = json.loads((model / "training_log.json").read_text())["history"]
    assert [h["iteration"] for h in history] == [2, 4]
    # a finished model is not overwritten without --force
    assert main([*argv, "--iterations", "2"]) == 2
    tuned = tmp_path / "tuned"
    assert main(["--no-progress", "finetune", str(data), "--from", str(model), "--out", str(tuned),
                 "--iterations", "2", "--val-patients", "P2", "--cache", str(tmp_path / "cache")]) == 0
    card = json.loads((tuned / "model_card.json").read_text())
    assert card["training"]["fine_tuned_from"] == "tiny-test"
