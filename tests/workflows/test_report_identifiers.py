"""The report's identifiers: BIDS subject and session come from the folders, never from a file name."""

from __future__ import annotations

from lesionwatch.workflows.report import _identifiers


def test_bids_subject_and_session_are_read_from_folders_not_file_names() -> None:
    provenance = {"inputs": {
        "flair": {"path": "/data/bids/sub-07/ses-02/anat/sub-07_ses-02_FLAIR.nii.gz"},
        "t1": {"path": "/data/bids/sub-07/ses-02/anat/sub-07_ses-02_T1w.nii.gz"},
    }}
    ids = _identifiers(provenance)
    assert ids["subject"] == "sub-07" and ids["session"] == "ses-02"
    assert ids["input t1"] == "sub-07_ses-02_T1w.nii.gz"


def test_plain_files_carry_no_subject() -> None:
    ids = _identifiers({"inputs": {"flair": {"path": "/scans/sub-3_flair.nii.gz"}}})
    assert "subject" not in ids and ids["input flair"] == "sub-3_flair.nii.gz"
