"""`lesionwatch followup` end to end on synthetic patients with known changes."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from lesionwatch.cli.main import main
from lesionwatch.io.nifti import read_labels, read_volume, write_nifti
from lesionwatch.longitudinal.change import ENLARGING_GROWTH, NEW
from lesionwatch.synth import SynthConfig, generate_case, rescan

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def three_sessions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A synthetic three-session BIDS subject and its follow-up folder (no report): (data, subject, out)."""
    tmp_path = tmp_path_factory.mktemp("three_sessions")
    data = tmp_path / "bids"
    assert main(["--no-progress", "synth", "--out", str(data), "--timepoints", "3", "--seed", "4",
                 "--spacing-mm", "2", "--skull-stripped"]) == 0
    subject = next(data.glob("sub-*"))
    out = tmp_path / "fu"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["--no-progress", "followup", "--method", "classical", "--no-report", "--bids", str(subject),
                     "--out", str(out)]) == 0
    assert "follow-up written" in printed.getvalue()
    return data, subject, out


def test_followup_of_a_three_session_bids_subject(three_sessions: tuple[Path, Path, Path]) -> None:
    data, subject, out = three_sessions
    summary = json.loads((out / "summary.json").read_text())
    assert summary["studies"] == ["ses-01", "ses-02", "ses-03"] and len(summary["intervals"]) == 2
    with (out / "change_table.csv").open() as f:
        change_rows = list(csv.DictReader(f))
    track_ids = {int(r["lesion_id"]) for r in change_rows}
    truth = json.loads((data / "derivatives" / "truth" / subject.name / "truth.json").read_text())
    for t, session in enumerate(summary["studies"]):
        folder = out / session
        flair = read_volume(subject / session / "anat" / f"{subject.name}_{session}_FLAIR.nii.gz")
        labels = read_labels(folder / "lesion_labels_space-native.nii.gz")
        change = read_labels(folder / "change_map_space-native.nii.gz")
        assert labels.same_grid(flair) and change.same_grid(flair)
        with (folder / "lesion_table.csv").open() as f:
            rows = list(csv.DictReader(f))
        assert {int(r["lesion_id"]) for r in rows} <= track_ids  # one identity across all tables
        assert {int(r["lesion_id"]) for r in rows} == set(np.unique(labels.array)) - {0}
        if t == 0:
            continue
        anat = data / "derivatives" / "truth" / subject.name / session / "anat"
        truth_ids = read_labels(anat / f"{subject.name}_{session}_desc-lesionids_dseg.nii.gz")
        assert truth_ids.same_grid(flair)
        activity = np.isin(change.array, (NEW, ENLARGING_GROWTH))
        for lesion in truth["lesions"]:
            volume = lesion["volumes_mm3"][t]
            if volume < 150:
                continue
            voxels = truth_ids.array == lesion["id"]
            if lesion["changes"][t - 1] == "new":
                assert activity[voxels].mean() > 0.5, lesion  # a new lesion is marked new
            elif lesion["changes"][t - 1] == "stable":
                assert activity[voxels].mean() < 0.2, lesion  # a stable lesion is not


def test_report_shows_each_new_and_enlarging_lesion_side_by_side(three_sessions: tuple[Path, Path, Path],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _, _, out = three_sessions
    assert main(["--no-progress", "report", str(out)]) == 0
    capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    rows = json.loads((out / "change_table.json").read_text())["rows"]
    page = (out / "report.html").read_text()
    names = summary["studies"]
    active = 0
    for before, after, interval in zip(names, names[1:], summary["intervals"], strict=False):
        changed = [r for r in rows if r[f"change_{before}_to_{after}"] in ("new", "enlarging")]
        assert len(changed) == interval["new_count"] + interval["enlarging_count"]
        headline = (f"{interval['new_count']} new, {interval['enlarging_count']} enlarging since {before}"
                    if changed else f"no new or enlarging lesion since {before}")
        assert headline in page
        for r in changed:
            picture = out / "figures" / f"change_{after}_lesion{int(r['lesion_id']):04d}.png"
            assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"Lesion {r['lesion_id']}: {r[f'change_{before}_to_{after}']}," in page
        active += len(changed)
    assert active >= 2  # the synthetic subject has activity to show
    assert "<table class='sortable'>" in page


@pytest.mark.parametrize("seed", [12, 13])
def test_a_same_day_rescan_shows_no_activity(tmp_path: Path, seed: int) -> None:
    """A pseudo-rescan (the same head moved, on another grid, with new bias and noise): nothing is new."""
    case = generate_case(seed, SynthConfig(spacing_mm=2.0, skull_stripped=True, lesion_count=(10, 14),
                                           lesion_volume_mm3=(40.0, 1500.0)), timepoints=1)
    flair = case.timepoints[0].images["flair"]
    again = rescan({"flair": flair}, np.random.default_rng(seed))["flair"]
    write_nifti(flair, tmp_path / "a.nii.gz")
    write_nifti(again, tmp_path / "b.nii.gz")
    out = tmp_path / "fu"
    assert main(["--no-progress", "followup", "--method", "classical", "--no-report", "--flair",
                 str(tmp_path / "a.nii.gz"), "--flair", str(tmp_path / "b.nii.gz"), "--out", str(out)]) == 0
    interval = json.loads((out / "summary.json").read_text())["intervals"][0]
    assert interval["new_count"] == 0 and interval["enlarging_count"] == 0
    assert abs(interval["volume_change_mm3"]) < 0.03 * interval["volume_before_mm3"]
    assert interval["volume_before_mm3"] > 1000  # lesions were found at all


def test_the_same_flair_twice_is_refused_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = generate_case(7, SynthConfig(spacing_mm=3.0, skull_stripped=True, sequences=("flair",)))
    flair = write_nifti(case.timepoints[0].images["flair"], tmp_path / "flair.nii.gz")
    out = tmp_path / "out"
    assert main(["--no-progress", "followup", "--flair", str(flair), "--flair", str(flair), "--out", str(out)]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first == f"error: {flair.resolve()}: the same FLAIR is given for two studies; a follow-up compares " \
                    "different studies of one patient"
    assert not out.exists()


def test_studies_of_two_heads_are_refused_and_force_records_why(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal path of the one-head check, with the figures of two different patients (benchmarks/same_head.py:
    lesjak_long patient03 study 1 against patient01 study 2)."""
    from lesionwatch.longitudinal.alignment import HeadMatch
    from lesionwatch.workflows import followup

    case = generate_case(7, SynthConfig(spacing_mm=3.0, skull_stripped=True, sequences=("flair",)), timepoints=2)
    flairs = [write_nifti(tp.images["flair"], tmp_path / f"s{i}.nii.gz") for i, tp in enumerate(case.timepoints)]
    monkeypatch.setattr(followup, "match_heads", lambda *args: HeadMatch(1.014, 1.001, 1.06, 0.944))
    out = tmp_path / "out"
    argv = ["--no-progress", "-q", "followup", "--flair", str(flairs[0]), "--flair", str(flairs[1]), "--out", str(out),
            "--method", "classical", "--no-report"]
    assert main(argv) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith(f"error: {flairs[0]} and the later studies: study2 and the baseline look alike poorly "
                            "once aligned (NMI 1.014); they look like two different people.")
    assert not out.exists()
    assert main([*argv[:2], "--force", *argv[2:]]) == 0
    warnings = json.loads((out / "summary.json").read_text())["qc_warnings"]
    assert warnings == ["implausible input, compared with --force: study2 and the baseline look alike poorly once "
                        "aligned (NMI 1.014)"]


def test_one_heads_figures_pass_and_gross_mismatches_each_fail() -> None:
    from lesionwatch.longitudinal.alignment import HeadMatch
    from lesionwatch.workflows.followup import head_problems

    assert head_problems(HeadMatch(1.063, 1.001, 1.15, 0.969), "s2") == []  # lesjak_long patient03, one head
    assert len(head_problems(HeadMatch(1.009, 1.002, 1.48, 0.875), "s2")) == 3
