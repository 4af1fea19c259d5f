from __future__ import annotations

from pathlib import Path

import pytest

from lesionwatch.errors import BidsLayoutError
from lesionwatch.io.bids import find_bids_session, list_bids_sessions


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_session_files_are_found_by_suffix(tmp_path: Path) -> None:
    anat = tmp_path / "sub-01" / "ses-1" / "anat"
    flair = _touch(anat / "sub-01_ses-1_FLAIR.nii.gz")
    t1 = _touch(anat / "sub-01_ses-1_T1w.nii.gz")
    _touch(anat / "sub-01_ses-1_T1w.json")
    found = find_bids_session(tmp_path / "sub-01" / "ses-1")
    assert found == {"flair": flair, "t1": t1}
    assert find_bids_session(tmp_path / "sub-01") == found  # single session: the subject is enough


def test_missing_flair_is_refused(tmp_path: Path) -> None:
    _touch(tmp_path / "sub-01" / "anat" / "sub-01_T1w.nii.gz")
    with pytest.raises(BidsLayoutError, match=r"anat: no \*_FLAIR\.nii\.gz found"):
        find_bids_session(tmp_path / "sub-01")


def test_two_flairs_in_one_session_are_refused(tmp_path: Path) -> None:
    anat = tmp_path / "sub-01" / "anat"
    _touch(anat / "sub-01_run-1_FLAIR.nii.gz")
    _touch(anat / "sub-01_run-2_FLAIR.nii.gz")
    with pytest.raises(BidsLayoutError, match=r"2 FLAIR images"):
        find_bids_session(tmp_path / "sub-01")


def test_subject_with_several_sessions_lists_them(tmp_path: Path) -> None:
    for ses in ("ses-2", "ses-1"):
        _touch(tmp_path / "sub-01" / ses / "anat" / f"sub-01_{ses}_FLAIR.nii.gz")
    assert [p.name for p in list_bids_sessions(tmp_path / "sub-01")] == ["ses-1", "ses-2"]
    with pytest.raises(BidsLayoutError, match="holds 2 sessions"):
        find_bids_session(tmp_path / "sub-01")
