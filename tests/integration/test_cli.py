"""The command line run in-process, checking the files it writes and the errors it prints."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from lesionwatch import __version__
from lesionwatch.cli.main import main
from lesionwatch.io.dicom import write_dicom_series
from lesionwatch.io.nifti import read_volume, write_nifti
from lesionwatch.io.volume import Volume
from lesionwatch.synth import SynthConfig, generate_case


@pytest.fixture(scope="module")
def stripped_case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small skull-stripped FLAIR + T1 case written as NIfTI."""
    folder = tmp_path_factory.mktemp("case")
    case = generate_case(11, SynthConfig(spacing_mm=3.0, skull_stripped=True))
    images = case.timepoints[0].images
    return {name: write_nifti(img, folder / f"{name}.nii.gz") for name, img in images.items()}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--no-progress", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"lesionwatch {__version__}"


def test_models_list_shows_the_default_and_its_held_out_scores(capsys: pytest.CaptureFixture[str]) -> None:
    from lesionwatch.models.card import read_card, resolve_model_dir

    card = read_card(resolve_model_dir("default"))
    code, out, _ = run(["models", "list"], capsys)
    assert code == 0 and out.startswith("default ")
    for site, row in card.metrics["leave_one_site_out"].items():  # every held-out site's figures, as the card has
        assert f"{site} {row['dice']:.3f} / {row['lesion_f1']:.3f}" in out
    assert f"threshold {card.threshold:g}  min {card.min_lesion_volume_mm3:g} mm3" in out


def test_preprocess_writes_mask_in_native_grid_with_provenance(
        tmp_path: Path, stripped_case: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, stdout, err = run(["preprocess", "--flair", str(stripped_case["flair"]), "--t1", str(stripped_case["t1"]),
                             "--out", str(out), "--intermediates"], capsys)
    assert code == 0, err
    assert "written to" in stdout
    mask = nib.load(str(out / "brain_mask_space-native.nii.gz"))
    flair = nib.load(str(stripped_case["flair"]))
    assert mask.shape == flair.shape
    np.testing.assert_allclose(mask.get_sform(), flair.get_sform(), atol=1e-5)
    np.testing.assert_allclose(mask.get_qform(), mask.get_sform(), atol=1e-4)
    assert (out / "flair_space-working_desc-normalized.nii.gz").is_file()
    assert (out / "t1_space-working_desc-normalized.nii.gz").is_file()
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["inputs"]["flair"]["sha256"] and prov["inputs"]["t1"]["sha256"]
    assert prov["config"]["registration"]["transform"] == "rigid"
    assert prov["versions"]["lesionwatch"] == __version__
    assert set(prov["timings_s"]) >= {"register", "skull_strip", "total"}
    assert prov["qc"]["brain_mask_method"] == "skull-stripped input"
    assert "normalized_mutual_information" in prov["qc"]["registration"]["t1"]
    assert "preprocessing done" in (out / "lesionwatch.log").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_existing_output_needs_force_and_is_kept(tmp_path: Path, stripped_case: dict[str, Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier result")
    argv = ["preprocess", "--flair", str(stripped_case["flair"]), "--out", str(out)]
    code, _, err = run(argv, capsys)
    assert code == 2 and "already exists" in err and "--force" in err
    assert (out / "keep.txt").read_text() == "earlier result"
    code, _, err = run(["--force", *argv], capsys)
    assert code == 0, err
    assert (out / "brain_mask_space-native.nii.gz").is_file() and not (out / "keep.txt").exists()


def test_failed_rerun_with_force_keeps_earlier_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier result")
    bad = tmp_path / "bad.nii.gz"
    bad.write_text("not an image")
    code, _, err = run(["--force", "preprocess", "--flair", str(bad), "--out", str(out)], capsys)
    assert code == 2 and "bad.nii.gz" in err
    assert (out / "keep.txt").read_text() == "earlier result"


@pytest.mark.parametrize("problem", ["missing", "corrupt", "constant", "not-nifti"])
def test_bad_flair_fails_cleanly(problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / ("flair.txt" if problem == "not-nifti" else "flair.nii.gz")
    expected = {"missing": "input not found", "corrupt": "not a NIfTI image|cannot be read",
                "constant": "every voxel has the value", "not-nifti": "must be a NIfTI file"}[problem]
    if problem == "corrupt":
        path.write_bytes(b"\x1f\x8b garbage")
    elif problem == "constant":
        nib.save(nib.Nifti1Image(np.ones((10, 10, 10), np.float32), np.eye(4)), str(path))
    elif problem == "not-nifti":
        path.write_text("hello")
    out = tmp_path / "out"
    code, _, err = run(["preprocess", "--flair", str(path), "--out", str(out)], capsys)
    assert code == 2
    assert str(path.name) in err
    import re

    assert re.search(expected, err)
    assert "Traceback" not in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_t1_that_does_not_overlap_is_refused(tmp_path: Path, stripped_case: dict[str, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    t1 = read_volume(stripped_case["t1"])
    far = Volume(t1.array, t1.affine.copy())
    far.affine[:3, 3] += 400
    far_path = write_nifti(far, tmp_path / "far_t1.nii.gz")
    out = tmp_path / "out"
    code, _, err = run(["preprocess", "--flair", str(stripped_case["flair"]), "--t1", str(far_path),
                        "--out", str(out)], capsys)
    assert code == 2 and "do not overlap in space" in err
    assert f"error: {far_path}: the T1 does not lie on the FLAIR: " in err  # names the file
    assert not out.exists()


def test_dicom_input_gives_the_same_mask_as_nifti(tmp_path: Path, stripped_case: dict[str, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    flair = read_volume(stripped_case["flair"])
    write_dicom_series(flair, tmp_path / "dicom", series_description="AX FLAIR")
    code, _, err = run(["preprocess", "--flair", str(tmp_path / "dicom"), "--out", str(tmp_path / "d")], capsys)
    assert code == 0, err
    code, _, err = run(["preprocess", "--flair", str(stripped_case["flair"]), "--out", str(tmp_path / "n")], capsys)
    assert code == 0, err
    from_dicom = read_volume(tmp_path / "d" / "brain_mask_space-native.nii.gz")
    from_nifti = read_volume(tmp_path / "n" / "brain_mask_space-native.nii.gz")
    from lesionwatch.preprocessing.resampling import Grid, resample

    on_grid = resample(from_dicom, Grid.of(from_nifti), order=0)
    agreement = (on_grid.array == from_nifti.array).mean()
    assert agreement > 0.999
    prov = json.loads((tmp_path / "d" / "provenance.json").read_text())
    assert prov["inputs"]["flair"]["path"].endswith("dicom")


def test_empty_dicom_folder_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "dicom").mkdir()
    code, _, err = run(["preprocess", "--flair", str(tmp_path / "dicom"), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "no DICOM image series found" in err and not (tmp_path / "o").exists()


def test_synth_then_bids_preprocess_then_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "synth"
    code, _, err = run(["synth", "--out", str(data), "--timepoints", "2", "--seed", "0", "--spacing-mm", "3",
                        "--skull-stripped"], capsys)
    assert code == 0, err
    session = data / "sub-synth0" / "ses-01"
    assert (session / "anat" / "sub-synth0_ses-01_FLAIR.nii.gz").is_file()
    truth_dir = data / "derivatives" / "truth" / "sub-synth0"
    truth = json.loads((truth_dir / "truth.json").read_text())
    assert truth["sessions"] == ["01", "02"] and truth["lesions"]
    code, _, err = run(["preprocess", "--bids", str(session), "--out", str(tmp_path / "pre")], capsys)
    assert code == 0, err
    mask = truth_dir / "ses-01" / "anat" / "sub-synth0_ses-01_desc-lesions_mask.nii.gz"
    code, out, err = run(["evaluate", "--pred", str(mask), "--truth", str(mask), "--json",
                          str(tmp_path / "m.json")], capsys)
    assert code == 0, err
    assert "dice                         1.0000" in out
    assert json.loads((tmp_path / "m.json").read_text())["metrics"]["lesion_f1"] == 1.0


def test_usage_error_is_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(["preprocess", "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "a FLAIR is required" in err
