"""Reports written by `segment` and `lesionwatch report`: content, empty cases, DICOM SEG, no side effects."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from lesionwatch.cli.main import main
from lesionwatch.io.dicom import list_series, write_dicom_series
from lesionwatch.io.dicom_seg import sample_on_slice
from lesionwatch.io.nifti import read_labels, write_nifti
from lesionwatch.synth import SynthConfig, generate_case

pytestmark = pytest.mark.slow


def _case(folder: Path, seed: int, lesion_count: tuple[int, int]) -> Path:
    case = generate_case(seed, SynthConfig(spacing_mm=2.0, skull_stripped=True, lesion_count=lesion_count,
                                           lesion_volume_mm3=(80.0, 1500.0), sequences=("flair", "t1")))
    images = case.timepoints[0].images
    write_nifti(images["t1"], folder / "t1.nii.gz")
    return write_nifti(images["flair"], folder / "flair.nii.gz")


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    flair = _case(folder, 41, (8, 10))
    out = folder / "seg"
    assert main(["--no-progress", "segment", "--method", "classical", "--flair", str(flair), "--t1",
                 str(folder / "t1.nii.gz"), "--out", str(out)]) == 0
    return out


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in ("report.html", "report.pdf") and "figures" not in p.parts}


def test_report_shows_the_lesion_table_and_the_figures(segmented: Path) -> None:
    page = (segmented / "report.html").read_text()
    rows = json.loads((segmented / "lesion_table.json").read_text())["rows"]
    assert rows, "the classical method finds the synthetic lesions"
    cells = set(re.findall(r"<td>([^<]*)</td>", page))
    for row in rows:
        assert f"{row['volume_mm3']:g}" in cells and f"{row['lesion_id']}" in cells
    assert "Not for clinical diagnosis" in page
    assert len(re.findall(r"<img src='data:image/png;base64,", page)) >= 4
    assert "data:image/gif;base64," in page
    pngs = sorted((segmented / "figures").glob("*.png"))
    assert len(pngs) >= 4 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert (segmented / "figures" / "sweep.gif").read_bytes()[:6] == b"GIF89a"
    assert (segmented / "figures" / "sweep.mp4").stat().st_size > 1000
    assert (segmented / "report.pdf").read_bytes()[:5] == b"%PDF-"


def test_report_command_rebuilds_without_touching_the_analysis(segmented: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    before = _digests(segmented)
    (segmented / "report.html").unlink()
    assert main(["--no-progress", "report", str(segmented)]) == 0
    assert "report:" in capsys.readouterr().out
    assert (segmented / "report.html").is_file()
    assert _digests(segmented) == before


def test_without_the_pdf_extra_the_report_is_the_html_page(segmented: Path, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if not installed
    assert (segmented / "report.pdf").is_file()
    assert main(["--no-progress", "report", str(segmented)]) == 0
    capsys.readouterr()
    assert (segmented / "report.html").is_file() and not (segmented / "report.pdf").exists()
    assert "pip install 'lesionwatch[pdf]'" in caplog.text
    monkeypatch.delitem(sys.modules, "weasyprint")
    assert main(["--no-progress", "report", str(segmented)]) == 0  # the PDF is back for the tests after this one
    assert (segmented / "report.pdf").is_file()


def test_report_of_a_folder_that_is_not_an_output_fails_cleanly(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-progress", "report", str(tmp_path)]) == 2
    assert "provenance.json: not found" in capsys.readouterr().err


def test_zero_lesions_still_give_a_complete_report(tmp_path: Path) -> None:
    flair = _case(tmp_path, 42, (3, 4))
    out = tmp_path / "seg"
    assert main(["--no-progress", "segment", "--method", "classical", "--flair", str(flair),
                 "--min-lesion-volume-mm3", "100000000", "--out", str(out)]) == 0
    assert (out / "lesion_table.csv").read_text().count("\n") == 1  # the header only
    page = (out / "report.html").read_text()
    assert "<dt>lesions</dt><dd>0</dd>" in page and ">none</td>" in page
    assert (out / "report.pdf").is_file() and len(list((out / "figures").glob("*.png"))) >= 4


def test_dicom_input_gets_a_dicom_seg_with_the_same_voxels(tmp_path: Path) -> None:
    import highdicom as hd

    flair_path = _case(tmp_path, 43, (8, 10))
    from lesionwatch.io.nifti import read_volume

    write_dicom_series(read_volume(flair_path), tmp_path / "dicom", series_description="AX FLAIR")
    out = tmp_path / "seg"
    assert main(["--no-progress", "segment", "--method", "classical", "--flair", str(tmp_path / "dicom"),
                 "--out", str(out)]) == 0
    mask = read_labels(out / "lesion_mask_space-native.nii.gz")
    seg = hd.seg.segread(str(out / "lesion_mask_seg.dcm"))
    (series,) = list_series(tmp_path / "dicom")
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series.uid
    import pydicom

    total = 0
    for path in series.files:
        source = pydicom.dcmread(path)
        frame = seg.get_pixels_by_source_instance([source.SOPInstanceUID], segment_numbers=[1])[0, ..., 0]
        expected = sample_on_slice(mask, source)
        assert np.array_equal(frame > 0, expected > 0)
        total += int(frame.astype(bool).sum())
    assert total == int(mask.mask.sum()) > 0
