"""`lesionwatch segment` with the classical baseline, on synthetic cases with known lesions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lesionwatch.cli.main import main
from lesionwatch.io.nifti import read_labels, write_nifti
from lesionwatch.lesions.metrics import evaluate_segmentation
from lesionwatch.synth import SynthConfig, generate_case


def _write_case(folder: Path, seed: int, lesion_count: tuple[int, int]) -> tuple[Path, Path]:
    case = generate_case(seed, SynthConfig(spacing_mm=2.0, skull_stripped=True, lesion_count=lesion_count,
                                           lesion_volume_mm3=(60.0, 1500.0), sequences=("flair",)))
    tp = case.timepoints[0]
    flair = write_nifti(tp.images["flair"], folder / "flair.nii.gz")
    truth = write_nifti(tp.lesions.with_array((tp.lesions.array > 0).astype("uint8")), folder / "truth.nii.gz")
    return flair, truth


def test_segment_finds_synthetic_lesions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flair, truth = _write_case(tmp_path, 21, (10, 14))
    out = tmp_path / "seg"
    assert main(["--no-progress", "segment", "--flair", str(flair), "--out", str(out)]) == 0
    assert "lesion mask:" in capsys.readouterr().out
    m = evaluate_segmentation(read_labels(out / "lesion_mask_space-native.nii.gz"), read_labels(truth))
    assert m.lesion_tpr > 0.5  # a segmenter that outputs nothing fails here
    assert m.predicted_volume_mm3 < 3 * m.truth_volume_mm3  # ...and one that outputs everything fails here
    assert m.dice > 0.3
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["model"]["name"] == "classical-flair-threshold"
    assert prov["summary"]["lesion_count"] == m.predicted_lesions
    assert prov["config"]["segmentation"]["threshold"] == 0.5


def test_higher_threshold_is_less_sensitive(tmp_path: Path) -> None:
    flair, _ = _write_case(tmp_path, 22, (10, 14))
    volumes = []
    for thr in ("0.2", "0.9"):
        out = tmp_path / f"seg{thr}"
        assert main(["--no-progress", "segment", "--flair", str(flair), "--threshold", thr, "--out", str(out)]) == 0
        volumes.append(read_labels(out / "lesion_mask_space-native.nii.gz").volume_mm3)
    assert volumes[0] > volumes[1]
