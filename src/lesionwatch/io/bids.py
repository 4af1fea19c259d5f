"""BIDS discovery: the anatomical images of one session (`sub-*/[ses-*/]anat/*_FLAIR.nii.gz` ...)."""

from __future__ import annotations

from pathlib import Path

from lesionwatch.errors import BidsLayoutError

BIDS_SUFFIXES = {"flair": "FLAIR", "t1": "T1w", "t2": "T2w", "pd": "PD"}


def _anat_folder(folder: Path) -> Path:
    folder = Path(folder)
    if folder.name == "anat":
        return folder
    if (folder / "anat").is_dir():
        return folder / "anat"
    sessions = sorted(p for p in folder.glob("ses-*") if p.is_dir())
    if folder.name.startswith("sub-") and len(sessions) == 1 and (sessions[0] / "anat").is_dir():
        return sessions[0] / "anat"
    if sessions:
        raise BidsLayoutError(
            f"{folder}: holds {len(sessions)} sessions ({', '.join(p.name for p in sessions)}); pass one session "
            "folder, or use `lesionwatch followup` for several."
        )
    raise BidsLayoutError(f"{folder}: no 'anat' folder found; expected a BIDS sub-*/ses-*/anat layout.")


def find_bids_session(folder: Path) -> dict[str, Path]:
    """Find the FLAIR (required) and the T1w, T2w and PD (optional) of one BIDS session.

    Args:
        folder: a `sub-*/ses-*` folder, its `anat` folder, or a `sub-*` folder with a single session.

    Returns:
        Sequence name ("flair", "t1", "t2", "pd") -> NIfTI path, for those present.

    Raises:
        BidsLayoutError: no FLAIR, or several files for one sequence.
    """
    anat = _anat_folder(folder)
    found: dict[str, Path] = {}
    for name, suffix in BIDS_SUFFIXES.items():
        hits = sorted(p for ext in (".nii.gz", ".nii") for p in anat.glob(f"*_{suffix}{ext}"))
        if len(hits) > 1:
            listing = ", ".join(p.name for p in hits)
            raise BidsLayoutError(
                f"{anat}: {len(hits)} {suffix} images ({listing}); keep one per session or pass the file "
                "directly with --flair/--t1."
            )
        if hits:
            found[name] = hits[0]
    if "flair" not in found:
        raise BidsLayoutError(f"{anat}: no *_FLAIR.nii.gz found; a FLAIR is required.")
    return found


def list_bids_sessions(subject: Path) -> list[Path]:
    """The session folders of a BIDS subject, in name order (the subject itself when it has no sessions)."""
    subject = Path(subject)
    sessions = sorted(p for p in subject.glob("ses-*") if (p / "anat").is_dir())
    if sessions:
        return sessions
    if (subject / "anat").is_dir():
        return [subject]
    raise BidsLayoutError(f"{subject}: no sessions with an 'anat' folder found.")
