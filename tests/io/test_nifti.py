from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from lesionwatch.errors import InputFileNotFoundError, InputImageError
from lesionwatch.io.nifti import read_labels, read_volume, write_nifti
from lesionwatch.io.volume import LabelVolume, Volume


def _save(array: np.ndarray, path: Path, affine: np.ndarray | None = None) -> Path:
    nib.save(nib.Nifti1Image(array, np.eye(4) if affine is None else affine), str(path))
    return path


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileNotFoundError, match=r"nope\.nii\.gz: file not found"):
        read_volume(tmp_path / "nope.nii.gz")


def test_text_file_is_not_an_image(tmp_path: Path) -> None:
    bad = tmp_path / "flair.nii.gz"
    bad.write_text("hello")
    with pytest.raises(InputImageError, match=r"flair\.nii\.gz: (not a NIfTI image|cannot be read)"):
        read_volume(bad)


def test_truncated_nifti_is_refused(tmp_path: Path) -> None:
    good = _save(np.random.default_rng(0).random((40, 40, 40)).astype(np.float32), tmp_path / "a.nii.gz")
    data = gzip.decompress(good.read_bytes())
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(gzip.compress(data[: len(data) // 2]))
    with pytest.raises(InputImageError, match=r"(?s)cut\.nii\.gz: .*(truncated|corrupt)"):
        read_volume(cut)


def test_four_d_series_is_refused_but_single_volume_accepted(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    with pytest.raises(InputImageError, match=r"expected a 3D image, got 4D"):
        read_volume(_save(rng.random((8, 8, 8, 3)).astype(np.float32), tmp_path / "four.nii.gz"))
    vol = read_volume(_save(rng.random((8, 8, 8, 1)).astype(np.float32), tmp_path / "one.nii.gz"))
    assert vol.shape == (8, 8, 8)


def test_two_d_image_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputImageError, match=r"expected a 3D image"):
        read_volume(_save(np.ones((8, 8), np.float32), tmp_path / "flat.nii.gz"))


def test_nan_voxels_are_refused(tmp_path: Path) -> None:
    arr = np.random.default_rng(2).random((8, 8, 8)).astype(np.float32)
    arr[1, 2, 3] = np.nan
    arr[2, 2, 2] = np.inf
    with pytest.raises(InputImageError, match=r"2 voxel\(s\) are NaN or infinite"):
        read_volume(_save(arr, tmp_path / "nan.nii.gz"))


def test_constant_image_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputImageError, match=r"every voxel has the value 7.0"):
        read_volume(_save(np.full((8, 8, 8), 7, np.float32), tmp_path / "const.nii.gz"))


def test_written_header_keeps_qform_and_sform_equal_to_affine(tmp_path: Path, blob_volume: Volume) -> None:
    path = write_nifti(blob_volume, tmp_path / "out.nii.gz")
    img = nib.load(str(path))
    np.testing.assert_allclose(img.get_sform(), blob_volume.affine, atol=1e-5)
    np.testing.assert_allclose(img.get_qform(), blob_volume.affine, atol=1e-4)
    assert int(img.header["sform_code"]) > 0 and int(img.header["qform_code"]) > 0
    back = read_volume(path)
    np.testing.assert_allclose(back.array, blob_volume.array)


def test_write_reuses_reference_header_codes(tmp_path: Path) -> None:
    arr = np.random.default_rng(3).random((6, 7, 8)).astype(np.float32)
    img = nib.Nifti1Image(arr, np.diag([2.0, 2.0, 3.0, 1.0]))
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=4)
    img.header["descrip"] = b"scanner X"
    path = tmp_path / "ref.nii"
    nib.save(img, str(path))
    ref = read_volume(path)
    mask = ref.as_labels((ref.array > 0.5).astype(np.uint8))
    out = nib.load(str(write_nifti(mask, tmp_path / "mask.nii.gz")))
    assert int(out.header["sform_code"]) == 4 and int(out.header["qform_code"]) == 1
    assert out.header["descrip"].tobytes().startswith(b"scanner X")
    assert out.get_data_dtype() == np.uint8


def test_float_masks_are_binarised_at_half(tmp_path: Path) -> None:
    arr = np.zeros((5, 5, 5), np.float32)
    arr[1, 1, 1] = 0.7
    arr[2, 2, 2] = 0.3
    labels = read_labels(_save(arr, tmp_path / "m.nii.gz"))
    assert isinstance(labels, LabelVolume) and labels.array.sum() == 1


def test_failed_write_leaves_no_file(tmp_path: Path, blob_volume: Volume) -> None:
    target = tmp_path / "x.nii.gz"
    with pytest.raises(ValueError, match="must end in"):
        write_nifti(blob_volume, tmp_path / "x.txt")
    assert not target.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("dtype", "kind"), [(np.complex64, "complex"),
                                             (np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")]), "colour (RGB)")])
def test_complex_and_colour_images_are_refused(tmp_path: Path, dtype: np.dtype, kind: str) -> None:
    path = tmp_path / "image.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8), dtype), np.eye(4)), str(path))
    with pytest.raises(InputImageError, match=rf"image.nii.gz: holds {kind.replace('(', '.').replace(')', '.')} "
                                              "voxels; expected one real intensity per voxel"):
        read_volume(path)
