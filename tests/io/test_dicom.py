from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lesionwatch.errors import DicomSeriesError
from lesionwatch.io.dicom import list_series, read_dicom_series, write_dicom_series
from lesionwatch.io.volume import Volume
from lesionwatch.preprocessing.resampling import Grid, resample


def test_dicom_round_trip_keeps_voxels_in_world_space(tmp_path: Path, blob_volume: Volume) -> None:
    write_dicom_series(blob_volume, tmp_path / "dcm", series_description="AX FLAIR")
    back, info = read_dicom_series(tmp_path / "dcm")
    assert info.description == "AX FLAIR"
    on_grid = resample(back, Grid.of(blob_volume), order=0)
    np.testing.assert_allclose(on_grid.array, blob_volume.array, atol=0.01)
    assert back.voxel_volume_mm3 == pytest.approx(blob_volume.voxel_volume_mm3, rel=1e-4)


def test_folder_with_two_series_needs_a_choice(tmp_path: Path, blob_volume: Volume) -> None:
    write_dicom_series(blob_volume, tmp_path / "dcm" / "a", series_description="localizer", series_number=1)
    write_dicom_series(blob_volume, tmp_path / "dcm" / "b", series_description="survey", series_number=2)
    assert len(list_series(tmp_path / "dcm")) == 2
    with pytest.raises(DicomSeriesError, match=r"2 image series found .*--series flair=SELECTOR"):
        read_dicom_series(tmp_path / "dcm", role="flair")
    vol, info = read_dicom_series(tmp_path / "dcm", role="flair", selector="survey")
    assert info.series_number == "2" and vol.shape == blob_volume.shape


def test_series_named_flair_is_chosen_and_explained(tmp_path: Path, blob_volume: Volume,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    write_dicom_series(blob_volume, tmp_path / "dcm" / "a", series_description="T1 MPRAGE", series_number=3)
    write_dicom_series(blob_volume, tmp_path / "dcm" / "b", series_description="AX T2 FLAIR", series_number=4)
    caplog.set_level("INFO")
    _, info = read_dicom_series(tmp_path / "dcm", role="flair")
    assert info.series_number == "4"
    assert "only one whose description names it" in caplog.text
    _, t1 = read_dicom_series(tmp_path / "dcm", role="t1")
    assert t1.series_number == "3"


def test_folder_without_dicom_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DicomSeriesError, match=r"empty: no DICOM image series found"):
        read_dicom_series(tmp_path / "empty")


def test_unknown_selector_lists_series(tmp_path: Path, blob_volume: Volume) -> None:
    write_dicom_series(blob_volume, tmp_path / "dcm", series_description="AX FLAIR", series_number=7)
    with pytest.raises(DicomSeriesError, match=r"(?s)no series match 'sagittal'.*#7 'AX FLAIR'"):
        read_dicom_series(tmp_path / "dcm", selector="sagittal")


def test_a_series_with_a_missing_slice_is_refused_naming_the_gap(tmp_path: Path, blob_volume: Volume) -> None:
    folder = tmp_path / "dicom"
    write_dicom_series(blob_volume, folder, series_description="AX FLAIR")
    files = sorted(folder.iterdir())
    files[len(files) // 2].unlink()
    with pytest.raises(DicomSeriesError, match=r"has a gap of 4\.00 mm after slice 10 where its slices are 2\.00 mm "
                                               r"apart: a slice is missing"):
        read_dicom_series(folder)
