"""Inputs that cannot be what they claim: a clear one-line error naming the file, exit 2, nothing written; with
`--force` where the input is only implausible, the warning recorded in summary.json. And what must not change the
result: the units the scanner stored the intensities in."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from lesionwatch.cli.main import EXIT_USAGE, main
from lesionwatch.io.nifti import write_nifti
from lesionwatch.io.volume import LabelVolume
from lesionwatch.synth import SynthConfig, SyntheticCase, generate_case


@pytest.fixture(scope="module")
def case() -> SyntheticCase:
    """A 3 mm synthetic FLAIR + T1 study with skull."""
    return generate_case(3, SynthConfig(spacing_mm=3.0, lesion_count=(10, 15)), timepoints=1)


@pytest.fixture(scope="module")
def flair(case: SyntheticCase, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_nifti(case.timepoints[0].images["flair"], tmp_path_factory.mktemp("flair") / "flair.nii")


def _patched(source: Path, out: Path, fields: dict[int, bytes]) -> Path:
    """`source` (uncompressed NIfTI-1) with raw header bytes replaced at the given offsets."""
    raw = bytearray(source.read_bytes())
    for offset, value in fields.items():
        raw[offset:offset + len(value)] = value
    out.write_bytes(bytes(raw))
    return out


def _srow(affine: np.ndarray) -> dict[int, bytes]:
    return {280: struct.pack("<4f", *affine[0]), 296: struct.pack("<4f", *affine[1]),
            312: struct.pack("<4f", *affine[2]), 252: struct.pack("<h", 0), 254: struct.pack("<h", 1)}


def _scaled(source: Path, out: Path, slope: float) -> Path:
    img = nib.load(str(source))
    data = np.asarray(img.dataobj, dtype=np.float32)
    scaled = nib.Nifti1Image(data, img.affine)
    scaled.header.set_data_dtype(np.float32)
    scaled.header["scl_slope"], scaled.header["scl_inter"] = slope, 0.0
    nib.save(scaled, str(out))
    return out


def _requantised(source: Path, out: Path) -> Path:
    img = nib.load(str(source))
    data = np.asarray(img.dataobj, dtype=np.float32)
    levels = np.digitize(data, np.percentile(data, [25, 50, 75])).astype(np.float32)
    nib.save(nib.Nifti1Image(levels, img.affine), str(out))
    return out


def _cropped(source: Path, out: Path) -> Path:
    img = nib.load(str(source))
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[20:40, 20:40, 10:30], img.affine), str(out))
    return out


def _singular(source: Path, out: Path) -> Path:
    affine = nib.load(str(source)).affine.copy()
    affine[:3, 0] = 0
    return _patched(source, out, _srow(affine))


def _nan_affine(source: Path, out: Path) -> Path:
    affine = nib.load(str(source)).affine.copy()
    affine[0, 3] = np.nan
    return _patched(source, out, _srow(affine))


BAD_HEADERS: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "singular affine": (_singular, "the header's voxel-to-world affine is singular"),
    "NaN affine": (_nan_affine, "the header's voxel-to-world affine (sform/qform) holds NaN or infinite values"),
    "no spatial header": (lambda s, o: _patched(s, o, {76 + 4: struct.pack("<3f", 0, 0, 0),
                                                       252: struct.pack("<hh", 0, 0)}),
                          "the header has no spatial information"),
    "vox_offset under 352": (lambda s, o: _patched(s, o, {108: struct.pack("<f", 100.0)}),
                             "cannot be read as NIfTI (vox offset 100 too low"),
    "scl_slope overflows float32": (lambda s, o: _scaled(s, o, 1e38),
                                    "the intensities overflow single precision once scaled (scl_slope 1e+38"),
    "four grey levels": (_requantised, "only 4 distinct intensities; an MR scan has hundreds"),
    "20-voxel field of view": (_cropped, "the field of view is 60 x 60 x 60 mm (216 ml), too small to hold a brain"),
}


@pytest.mark.parametrize("defect", list(BAD_HEADERS))
def test_a_bad_header_or_an_image_that_is_no_scan_is_refused_in_one_line(
        defect: str, flair: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, message = BAD_HEADERS[defect]
    bad = make(flair, tmp_path / "bad.nii")
    out = tmp_path / "out"
    code = main(["--no-progress", "segment", "--flair", str(bad), "--out", str(out), "--no-report"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    first = err.splitlines()[0]
    assert first.startswith(f"error: {bad}") and message in first, err
    assert "Traceback" not in err and not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.nii"]


@pytest.mark.slow
@pytest.mark.parametrize(("role", "message"), [
    ("inverted", "the FLAIR's ventricles are brighter than its white matter"),
    ("t1", "the FLAIR's cortex is darker than its white matter"),
])
def test_a_flair_with_another_contrast_is_refused_and_force_records_it(
        role: str, message: str, case: SyntheticCase, flair: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    images = case.timepoints[0].images
    bad = (_scaled(flair, tmp_path / "inverted.nii", -1.0) if role == "inverted"
           else write_nifti(images["t1"], tmp_path / "t1.nii"))
    out = tmp_path / "out"
    code = main(["--no-progress", "-q", "segment", "--flair", str(bad), "--out", str(out), "--no-report"])
    first = capsys.readouterr().err.splitlines()[0]
    assert code == EXIT_USAGE and first.startswith(f"error: {bad}: {message}") and not out.exists()
    code = main(["--no-progress", "--force", "segment", "--flair", str(bad), "--out", str(out), "--no-report"])
    assert code == 0
    warnings = json.loads((out / "summary.json").read_text())["qc_warnings"]
    assert any(w.startswith("implausible input, analysed with --force: " + message) for w in warnings)


@pytest.mark.slow
def test_the_mask_does_not_depend_on_the_units_of_the_intensities(flair: Path, tmp_path: Path) -> None:
    """scl_slope from 1e-6 to 1e6 (and 1e-30): the same lesion mask, voxel for voxel."""
    masks = []
    for slope in (1e-30, 1e-6, 1.0, 1e6):
        out = tmp_path / f"out_{slope:g}"
        assert main(["--no-progress", "-q", "segment", "--flair", str(_scaled(flair, tmp_path / "f.nii", slope)),
                     "--out", str(out), "--no-report"]) == 0
        masks.append(np.asarray(nib.load(str(out / "lesion_mask_space-native.nii.gz")).dataobj))
    assert masks[2].any()
    for mask in masks:
        assert np.array_equal(mask, masks[2])


def test_a_sheared_affine_is_written_with_its_sform_alone(flair: Path, tmp_path: Path) -> None:
    """A qform cannot hold a shear: the outputs leave it unset rather than disagree with the sform."""
    img = nib.load(str(flair))
    affine = img.affine.copy()
    affine[0, 1] = 0.4 * abs(affine[1, 1])
    sheared = tmp_path / "sheared.nii"
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj, np.float32), affine), str(sheared))
    out = tmp_path / "out"
    assert main(["--no-progress", "-q", "preprocess", "--flair", str(sheared), "--out", str(out)]) == 0
    mask = nib.load(str(out / "brain_mask_space-native.nii.gz"))
    assert int(mask.header["qform_code"]) == 0 and int(mask.header["sform_code"]) > 0
    assert np.allclose(mask.get_sform(), affine, atol=1e-4)


def test_evaluate_refuses_a_scan_given_as_the_prediction_and_a_folder_as_json(
        flair: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = write_nifti(LabelVolume(np.zeros((10, 10, 10), np.uint8), np.eye(4)), tmp_path / "truth.nii.gz")
    assert main(["evaluate", "--pred", str(flair), "--truth", str(truth)]) == EXIT_USAGE
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith(f"error: {flair}: holds ") and first.endswith("not a mask (0/1, or integer lesion ids). "
                                                                         "Pass the mask, not the scan.")
    assert main(["evaluate", "--pred", str(truth), "--truth", str(truth), "--json", str(tmp_path)]) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines()[0] == (f"error: {tmp_path}: --json names a folder; give a file name "
                                                       f"such as {tmp_path / 'metrics.json'}")


def test_evaluate_refuses_masks_of_two_spaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A prediction whose lesions lie outside the truth's field of view is a mask of another space, not a miss."""
    lesion = np.zeros((20, 20, 20), np.uint8)
    lesion[5:9, 5:9, 5:9] = 1
    truth = write_nifti(LabelVolume(lesion, np.eye(4)), tmp_path / "truth.nii.gz")
    shifted = np.eye(4)
    shifted[:3, 3] = 100.0  # the same array 100 mm away: no voxel of it inside the truth's grid
    far = write_nifti(LabelVolume(lesion, shifted), tmp_path / "far.nii.gz")
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--pred", str(far), "--truth", str(truth), "--json", str(out)]) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines()[0] == (
        f"error: {far}: 100% of its lesion voxels lie outside the field of view of {truth}; the two masks are in "
        "different spaces (a native-grid mask against an MNI-space one?). Compare masks of one space.")
    assert not out.exists()
    nearby = np.eye(4)
    nearby[:3, 3] = 2.0  # another grid over the same field of view: resampled and scored
    near = write_nifti(LabelVolume(lesion, nearby), tmp_path / "near.nii.gz")
    assert main(["evaluate", "--pred", str(near), "--truth", str(truth), "--json", str(out)]) == 0
    assert 0.0 < json.loads(out.read_text())["metrics"]["dice"] < 1.0
