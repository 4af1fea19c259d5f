"""`lesionwatch segment` with the classical baseline, on synthetic cases with known lesions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lesionwatch.cli.main import main
from lesionwatch.inference.postprocessing import PostprocessingConfig, lesion_mask
from lesionwatch.io.nifti import read_labels, read_volume, write_nifti
from lesionwatch.lesions.metrics import evaluate_segmentation
from lesionwatch.synth import SynthConfig, generate_case


def _write_case(folder: Path, seed: int, lesion_count: tuple[int, int], with_t1: bool = False
                ) -> tuple[Path, Path]:
    sequences = ("flair", "t1") if with_t1 else ("flair",)
    case = generate_case(seed, SynthConfig(spacing_mm=2.0, skull_stripped=True, lesion_count=lesion_count,
                                           lesion_volume_mm3=(60.0, 1500.0), sequences=sequences))
    tp = case.timepoints[0]
    flair = write_nifti(tp.images["flair"], folder / "flair.nii.gz")
    if with_t1:
        write_nifti(tp.images["t1"], folder / "t1.nii.gz")
    truth = write_nifti(tp.lesions.with_array((tp.lesions.array > 0).astype("uint8")), folder / "truth.nii.gz")
    return flair, truth


def test_segment_finds_synthetic_lesions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flair, truth = _write_case(tmp_path, 21, (10, 14))
    out = tmp_path / "seg"
    assert main(["--no-progress", "segment", "--method", "classical", "--flair", str(flair), "--out", str(out)]) == 0
    assert "lesion mask:" in capsys.readouterr().out
    m = evaluate_segmentation(read_labels(out / "lesion_mask_space-native.nii.gz"), read_labels(truth))
    assert m.lesion_tpr > 0.5  # a segmenter that outputs nothing fails here
    assert m.predicted_volume_mm3 < 3 * m.truth_volume_mm3  # ...and one that outputs everything fails here
    assert m.dice > 0.3
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["model"]["name"] == "classical-flair-threshold"
    assert prov["summary"]["lesion_count"] == m.predicted_lesions
    assert prov["model"]["threshold"] == 0.5  # the classical default, resolved


def test_higher_threshold_is_less_sensitive(tmp_path: Path) -> None:
    flair, _ = _write_case(tmp_path, 22, (10, 14))
    volumes = []
    for thr in ("0.2", "0.9"):
        out = tmp_path / f"seg{thr}"
        assert main(["--no-progress", "segment", "--method", "classical", "--flair", str(flair), "--threshold", thr,
                     "--out", str(out)]) == 0
        volumes.append(read_labels(out / "lesion_mask_space-native.nii.gz").volume_mm3)
    assert volumes[0] > volumes[1]


@pytest.mark.parametrize("with_t1", [True, False])
def test_shipped_model_finds_synthetic_lesions(tmp_path: Path, with_t1: bool) -> None:
    flair, truth = _write_case(tmp_path, 31, (10, 14), with_t1=with_t1)
    out = tmp_path / "seg"
    argv = ["--no-progress", "segment", "--flair", str(flair), "--out", str(out)]
    if with_t1:
        argv += ["--t1", str(tmp_path / "t1.nii.gz")]
    assert main(argv) == 0
    m = evaluate_segmentation(read_labels(out / "lesion_mask_space-native.nii.gz"), read_labels(truth))
    assert m.lesion_tpr > 0.5  # fails for a model that outputs nothing
    assert m.predicted_volume_mm3 < 3 * m.truth_volume_mm3  # fails for one that outputs everything
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["model"]["name"] == "lesionwatch-unet-default" and len(prov["model"]["sha256"]) == 64
    assert np.array(prov["patient_to_template"]).shape == (4, 4)
    # the mask is the probability at the card's operating point, nothing added or taken away after it
    card = prov["model"]
    expected = lesion_mask(read_volume(out / "lesion_probability_space-native.nii.gz"),
                           PostprocessingConfig(card["threshold"], card["min_lesion_volume_mm3"]))
    assert np.array_equal(read_labels(out / "lesion_mask_space-native.nii.gz").mask, expected.mask)


def test_tiny_random_model_runs_end_to_end(tmp_path: Path) -> None:
    from tests.models.test_card import write_tiny_model

    flair, _ = _write_case(tmp_path, 32, (3, 4))
    model = write_tiny_model(tmp_path / "tiny")
    out = tmp_path / "seg"
    assert main(["--no-progress", "segment", "--flair", str(flair), "--model", str(model), "--tta",
                 "--out", str(out)]) == 0
    prob = read_labels(out / "lesion_mask_space-native.nii.gz")
    assert prob.shape == read_labels(flair).shape
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["model"]["name"] == "tiny" and prov["config"]["segmentation"]["flip_tta"] is True


def test_corrupted_model_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.models.test_card import write_tiny_model

    flair, _ = _write_case(tmp_path, 33, (3, 4))
    model = write_tiny_model(tmp_path / "tiny")
    (model / "weights.pt").write_bytes(b"garbage")
    out = tmp_path / "seg"
    assert main(["--no-progress", "segment", "--flair", str(flair), "--model", str(model), "--out", str(out)]) == 2
    assert "does not match the model card" in capsys.readouterr().err
    assert not out.exists()


def test_segment_command_defaults_are_the_segmentation_config_defaults() -> None:
    """`lesionwatch segment` without the options runs what SegmentationConfig documents."""
    import inspect

    from lesionwatch.cli.studies import segment
    from lesionwatch.workflows.segment import SegmentationConfig

    defaults, config = inspect.signature(segment).parameters, SegmentationConfig()
    assert defaults["tta"].default == config.flip_tta and defaults["model"].default == config.model
    assert defaults["method"].default == config.method and defaults["threshold"].default == config.threshold
