"""The optional parts (extras): the core runs without them, and each missing one is named with its extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lesionwatch.cli.main import main
from lesionwatch.errors import MissingDependencyError

EXTRA_MODULES = ("weasyprint", "highdicom", "dask", "distributed", "pyarrow", "fastapi", "uvicorn", "fastapi_offline",
                 "multipart", "python_multipart")


def test_the_core_commands_load_without_any_extra() -> None:
    blocked = "; ".join(f"sys.modules[{m!r}] = None" for m in EXTRA_MODULES)
    code = (f"import sys; {blocked}\n"
            "import lesionwatch.workflows.segment, lesionwatch.workflows.followup, lesionwatch.workflows.report\n"
            "from lesionwatch.cli.main import main\n"
            "sys.exit(main(['followup', '--help']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--flair" in done.stdout


def test_serve_without_the_web_extra_names_it(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["serve"]) != 0
    assert "lesionwatch serve needs the 'web' extra: pip install 'lesionwatch[web]'" in capsys.readouterr().err


def test_pdf_and_dicom_seg_without_their_extras_name_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from lesionwatch.io.dicom_seg import dicom_segmentation
    from lesionwatch.io.volume import LabelVolume
    from lesionwatch.reporting.document import ReportContent, render_pdf

    monkeypatch.setitem(sys.modules, "weasyprint", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'lesionwatch\[pdf\]'"):
        render_pdf(ReportContent(title="Lesion segmentation"))
    monkeypatch.setitem(sys.modules, "highdicom", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'lesionwatch\[dicom\]'"):
        dicom_segmentation(LabelVolume(np.zeros((2, 2, 2), np.uint8), np.eye(4)), [], {1: "MS lesion"},
                           series_description="x", software_version="0")


def test_cohort_tables_without_the_cohort_extra_write_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lesionwatch.workflows.cohort_group import run_group

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'lesionwatch\[cohort\]'"):
        run_group(tmp_path)
    assert not any(tmp_path.iterdir())
