"""A study: the FLAIR and the optional T1, T2 and PD of one session, read from files, DICOM folders or BIDS."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lesionwatch.errors import InputFileNotFoundError, InputImageError
from lesionwatch.io.bids import find_bids_session
from lesionwatch.io.dicom import read_dicom_series
from lesionwatch.io.nifti import is_nifti_path, read_volume
from lesionwatch.io.volume import Volume

log = logging.getLogger(__name__)

SEQUENCES = ("flair", "t1", "t2", "pd")
"""Sequence names, in the channel order used everywhere."""


@dataclass(frozen=True)
class StudyInputs:
    """Where each sequence of one session comes from.

    Attributes:
        flair, t1, t2, pd: a NIfTI file or a DICOM folder each (FLAIR required).
        series: per sequence, which DICOM series to take from a folder holding several
            (series instance UID, series number, or a case-insensitive part of the description).
    """

    flair: Path
    t1: Path | None = None
    t2: Path | None = None
    pd: Path | None = None
    series: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_bids(cls, folder: Path) -> StudyInputs:
        """Inputs of a BIDS session (or subject with one session) folder."""
        found = find_bids_session(folder)
        return cls(flair=found["flair"], t1=found.get("t1"), t2=found.get("t2"), pd=found.get("pd"))

    def paths(self) -> dict[str, Path]:
        """The sequences given, in channel order."""
        return {name: p for name in SEQUENCES if (p := getattr(self, name)) is not None}


@dataclass(frozen=True)
class Study:
    """The images of one session, each in its own native grid and orientation, as read.

    Attributes:
        images: sequence name -> Volume, "flair" always present, channel order of `SEQUENCES`.
        sources: sequence name -> description of the file or DICOM series it came from.
        dicom: sequence name -> DICOM series instance UID, for sequences read from DICOM.
    """

    images: dict[str, Volume]
    sources: dict[str, str] = field(default_factory=dict)
    dicom: dict[str, str] = field(default_factory=dict)

    @property
    def flair(self) -> Volume:
        return self.images["flair"]

    @property
    def sequences(self) -> tuple[str, ...]:
        return tuple(name for name in SEQUENCES if name in self.images)


def read_image(path: Path, *, role: str, series: str | None = None) -> tuple[Volume, str, str | None]:
    """Read one sequence from a NIfTI file or a DICOM folder.

    Returns:
        (volume, description of the source, DICOM series UID or None).
    """
    path = Path(path)
    if not path.exists():
        raise InputFileNotFoundError(f"{path}: {role.upper()} input not found. Check the path and spelling.")
    if path.is_dir():
        volume, info = read_dicom_series(path, role=role, selector=series)
        return volume, f"DICOM {path} series {info.series_number} '{info.description}'", info.uid
    if not is_nifti_path(path):
        raise InputImageError(
            f"{path}: the {role.upper()} must be a NIfTI file (.nii or .nii.gz) or a DICOM folder; "
            f"got a file named '{path.name}'."
        )
    return read_volume(path), str(path), None


def load_study(inputs: StudyInputs) -> Study:
    """Read every sequence of `inputs`.

    Raises:
        InputFileNotFoundError, InputImageError, DicomSeriesError: with the offending file in the message.
    """
    images: dict[str, Volume] = {}
    sources: dict[str, str] = {}
    dicom: dict[str, str] = {}
    for name, path in inputs.paths().items():
        volume, source, uid = read_image(path, role=name, series=inputs.series.get(name))
        check_scan_plausible(volume, f"{path} ({name.upper()})")
        images[name] = volume
        sources[name] = source
        if uid is not None:
            dicom[name] = uid
        log.info("%s: %s, %s voxels of %s mm, %s", name.upper(), source, "x".join(map(str, volume.shape)),
                 "x".join(f"{s:.2f}" for s in volume.spacing_mm), volume.orientation)
    return Study(images, sources, dicom)


MIN_GREY_LEVELS = 32
"""An MR image has hundreds to thousands of distinct intensities; fewer than this is a label map, a mask or an
image quantised out of use."""
MIN_FIELD_OF_VIEW_MM = 50.0
MIN_FIELD_OF_VIEW_ML = 400.0
"""Smallest extent along any voxel axis and smallest volume of a field of view that can hold a brain (an adult brain
is about 1100-1500 ml, 140 x 170 x 120 mm)."""


def check_scan_plausible(volume: Volume, what: str) -> None:
    """Refuse an image that cannot be a brain MR scan: too few grey levels, or a field of view too small for a brain.

    Raises:
        InputImageError: naming `what` and the figure that failed.
    """
    extent = np.asarray(volume.shape) * np.asarray(volume.spacing_mm)
    ml = float(np.prod(extent)) / 1000
    if extent.min() < MIN_FIELD_OF_VIEW_MM or ml < MIN_FIELD_OF_VIEW_ML:
        raise InputImageError(
            f"{what}: the field of view is {' x '.join(f'{e:.0f}' for e in extent)} mm ({ml:.0f} ml), too small to "
            f"hold a brain (expected at least {MIN_FIELD_OF_VIEW_MM:.0f} mm along every axis and "
            f"{MIN_FIELD_OF_VIEW_ML:.0f} ml). Pass the whole scan, not a crop.")
    flat = volume.array.ravel()
    sample = flat[:: max(1, flat.size // 2_000_000)]
    levels = np.unique(sample).size
    if levels < MIN_GREY_LEVELS:
        raise InputImageError(
            f"{what}: only {levels} distinct intensities; an MR scan has hundreds. Is this a mask or a label map? "
            "Pass the scan itself.")


def hash_input(path: Path) -> str:
    """sha256 of a file, or of the sorted files of a folder (names and contents)."""
    digest = hashlib.sha256()
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            digest.update(str(f.relative_to(path)).encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
