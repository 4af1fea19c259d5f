"""Exit codes and what an interrupted or refused run leaves behind: 0 success, 1 a failed analysis or task, 2 bad
input or usage, 130 interrupted, each with one line saying what happened and nothing half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lesionwatch.cli.main import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, main
from lesionwatch.io.atomic import remove_stale_staging, staged_directory
from lesionwatch.io.nifti import write_nifti
from lesionwatch.synth import SynthConfig, generate_case


@pytest.fixture(scope="module")
def flair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small skull-stripped synthetic FLAIR."""
    case = generate_case(11, SynthConfig(spacing_mm=3.0, skull_stripped=True))
    return write_nifti(case.timepoints[0].images["flair"], tmp_path_factory.mktemp("case") / "flair.nii.gz")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["--no-progress", *argv])
    return code, capsys.readouterr().err


def _left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_an_interrupt_during_the_analysis_exits_130_and_writes_nothing(
        tmp_path: Path, flair: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from lesionwatch.workflows import segment

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(segment, "analyse_study", interrupted)
    code, err = _run(["segment", "--flair", str(flair), "--out", str(tmp_path / "out")], capsys)
    assert code == EXIT_INTERRUPTED
    assert err.splitlines()[0] == "interrupted; nothing half-written was left behind"
    assert _left_in(tmp_path) == []


def test_an_interrupt_during_the_report_keeps_no_half_drawn_results(
        tmp_path: Path, flair: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The report is built in the staged folder: interrupting it leaves no figures without their HTML/PDF."""
    from lesionwatch.workflows import report

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "render_pdf", interrupted)
    code, err = _run(["segment", "--flair", str(flair), "--out", str(tmp_path / "out")], capsys)
    assert code == EXIT_INTERRUPTED and err.splitlines()[-1].startswith("interrupted")
    assert _left_in(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_a_background_run_exits_130_and_leaves_nothing(tmp_path: Path, flair: Path,
                                                                    signum: signal.Signals) -> None:
    """SIGINT or SIGTERM, with SIGINT ignored as a shell's background job starts it; at any point of the run."""
    out = tmp_path / "out"

    def background() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen([sys.executable, "-m", "lesionwatch", "--no-progress", "segment", "--flair",
                             str(flair), "--out", str(out)], stderr=subprocess.PIPE, text=True,
                            preexec_fn=background)
    time.sleep(4)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert err.strip().splitlines()[-1] == "interrupted; nothing half-written was left behind"
    assert _left_in(tmp_path) == []


def test_a_failed_cohort_task_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bids = tmp_path / "ds"
    anat = bids / "sub-a" / "anat"
    anat.mkdir(parents=True)
    (bids / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.9.0"}')
    (anat / "sub-a_FLAIR.nii.gz").write_bytes(b"not a nifti file")
    code, err = _run(["bids", str(bids), str(tmp_path / "derivatives"), "participant", "--workers", "1"], capsys)
    assert code == EXIT_FAILED
    assert "failed: sub-a" in err


def test_a_premade_empty_output_folder_takes_the_results(tmp_path: Path, flair: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    code, err = _run(["preprocess", "--flair", str(flair), "--out", str(out)], capsys)
    assert code == 0, err
    assert "brain_mask_space-native.nii.gz" in _left_in(out)
    assert _left_in(tmp_path) == ["out"]


def test_an_output_path_that_is_a_file_is_called_a_file(tmp_path: Path, flair: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.write_text("notes")
    code, err = _run(["preprocess", "--flair", str(flair), "--out", str(out)], capsys)
    assert code == EXIT_USAGE
    assert err.splitlines()[0] == f"error: {out}: is a file, not a folder. Choose another --out."
    assert out.read_text() == "notes"
    under = out / "results"  # a folder that cannot be made: a file on its path
    code, err = _run(["segment", "--flair", str(flair), "--out", str(under)], capsys)
    assert code == EXIT_USAGE
    assert err.splitlines()[0] == (f"error: {under}: cannot be created, {out} is a file, not a folder. Choose "
                                   "another --out.")
    assert out.read_text() == "notes"


def test_a_killed_runs_staging_folders_are_removed_by_the_next_run(tmp_path: Path) -> None:
    final = tmp_path / "out"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [tmp_path / f".out.{dead.pid}-0123abcd.partial", tmp_path / f".out.{dead.pid}-4567abcd.old"]
    live = tmp_path / f".out.{os.getppid()}-89abcdef.partial"  # a run of the same output still going
    other = tmp_path / ".out.notes.partial"
    for folder in [*stale, live, other]:
        folder.mkdir()
    with staged_directory(final, overwrite=False) as stage:
        (stage / "result.txt").write_text("done")
    assert sorted(_left_in(tmp_path)) == sorted([".out.notes.partial", live.name, "out"])
    assert remove_stale_staging(final) == []


@pytest.mark.parametrize("token", ["", "short-token"])
def test_an_open_or_weak_token_off_loopback_is_refused_before_the_server_starts(
        token: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["serve", "--host", "0.0.0.0", "--token", token], capsys)
    assert code == EXIT_USAGE
    assert err.splitlines()[0] == (f"error: --token of {len(token)} characters on 0.0.0.0: off this machine the token "
                                   "must carry at least 128 bits (22 URL-safe characters); omit it to have one "
                                   "generated")


def test_provenance_never_holds_the_token() -> None:
    from lesionwatch.workflows.provenance import redacted_argv

    assert redacted_argv(["lesionwatch", "serve", "--token", "s3cret", "--port", "1"]) == [
        "lesionwatch", "serve", "--token", "***", "--port", "1"]
    assert redacted_argv(["lesionwatch", "serve", "--token=s3cret"]) == ["lesionwatch", "serve", "--token=***"]


def test_a_hidden_folder_stays_out_of_provenance_and_the_log(tmp_path: Path) -> None:
    import json
    import logging

    from lesionwatch.logging import add_file_log
    from lesionwatch.workflows.provenance import build_provenance

    flair = tmp_path / "jobs" / "abc" / "study1" / "flair.nii.gz"
    flair.parent.mkdir(parents=True)
    flair.write_bytes(b"x")
    record = build_provenance(command="segment", inputs={"flair": flair}, config={}, timings_s={}, outputs={},
                              hide_paths_under=tmp_path / "jobs" / "abc")
    assert record["inputs"]["flair"]["path"] == "study1/flair.nii.gz" and "argv" not in record
    assert str(tmp_path) not in json.dumps(record)
    assert "argv" in build_provenance(command="segment", inputs={}, config={}, timings_s={}, outputs={})
    handler = add_file_log(tmp_path / "run.log", tmp_path / "jobs" / "abc")
    try:
        logging.getLogger("lesionwatch.test").info("reading %s", flair)
    finally:
        logging.getLogger("lesionwatch").removeHandler(handler)
        handler.close()
    text = (tmp_path / "run.log").read_text()
    assert "reading study1/flair.nii.gz" in text and str(tmp_path) not in text
