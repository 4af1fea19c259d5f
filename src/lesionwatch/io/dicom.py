"""DICOM series: finding the image series in a folder, choosing one, reading it, and writing one.

Series are discovered with GDCM through SimpleITK (which sorts slices by position along the slice normal and
applies the rescale slope/intercept). When a folder holds several series the caller names one; otherwise a
single series whose description matches the sequence asked for is taken and the choice is logged; anything
more ambiguous is refused with the list of series.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from lesionwatch.errors import DicomSeriesError
from lesionwatch.io.itk import from_sitk
from lesionwatch.io.volume import Volume

log = logging.getLogger(__name__)

_ROLE_PATTERNS = {
    "flair": re.compile(r"flair|dark.?fluid|\bfl(?:_|\b)|t2.?fl|tirm", re.IGNORECASE),
    "t1": re.compile(r"t1|mprage|spgr|bravo|tfe", re.IGNORECASE),
    "t2": re.compile(r"t2(?!.?fl)|tse", re.IGNORECASE),
    "pd": re.compile(r"\bpd|proton", re.IGNORECASE),
}


@dataclass(frozen=True)
class SeriesInfo:
    """One image series found in a folder."""

    uid: str
    description: str
    series_number: str
    modality: str
    files: tuple[str, ...]

    def label(self) -> str:
        return f"#{self.series_number} '{self.description}' ({len(self.files)} files, UID {self.uid})"


def _tag(reader: sitk.ImageFileReader, key: str) -> str:
    return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else ""


def list_series(folder: Path) -> list[SeriesInfo]:
    """Every DICOM image series under `folder` (searched recursively), sorted by series number."""
    folder = Path(folder)
    dirs = [folder, *sorted(p for p in folder.rglob("*") if p.is_dir())]
    found: list[SeriesInfo] = []
    seen: set[str] = set()
    for d in dirs:
        warnings = sitk.ProcessObject.GetGlobalWarningDisplay()
        sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK's words on a folder without DICOM; the caller says it
        try:
            uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(d))
        except RuntimeError:
            continue
        finally:
            sitk.ProcessObject.SetGlobalWarningDisplay(warnings)
        for uid in uids:
            if uid in seen:
                continue
            files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(d), uid)
            if not files:
                continue
            reader = sitk.ImageFileReader()
            reader.SetFileName(files[0])
            try:
                reader.ReadImageInformation()
            except RuntimeError:
                continue
            seen.add(uid)
            found.append(SeriesInfo(uid, _tag(reader, "0008|103e"), _tag(reader, "0020|0011"),
                                    _tag(reader, "0008|0060"), tuple(files)))
    return sorted(found, key=lambda s: (int(s.series_number) if s.series_number.isdigit() else 1 << 30, s.uid))


def choose_series(series: list[SeriesInfo], *, role: str, selector: str | None, folder: Path) -> SeriesInfo:
    """Pick the series asked for by `selector` (UID, number or part of the description), or explain why not.

    Raises:
        DicomSeriesError: no series, no match, or several candidates and no selector.
    """
    listing = "\n  ".join(s.label() for s in series)
    if not series:
        raise DicomSeriesError(
            f"{folder}: no DICOM image series found. Expected a folder of DICOM files (for example one series "
            "exported from PACS); check the folder, or pass a NIfTI file instead."
        )
    if selector:
        sel = selector.strip().lower()
        matches = [s for s in series if sel in (s.uid.lower(), s.series_number.lower())]
        if not matches:
            matches = [s for s in series if sel in s.description.lower()]
        if len(matches) == 1:
            return matches[0]
        what = "no series" if not matches else f"{len(matches)} series"
        raise DicomSeriesError(
            f"{folder}: {what} match '{selector}' for the {role.upper()}. Series in the folder:\n  {listing}"
        )
    if len(series) == 1:
        return series[0]
    pattern = _ROLE_PATTERNS.get(role)
    candidates = [s for s in series if pattern is not None and pattern.search(s.description)]
    if role == "t2":
        candidates = [s for s in candidates if not _ROLE_PATTERNS["flair"].search(s.description)]
    if len(candidates) == 1:
        log.info("%s: %d series found; taking %s for the %s because it is the only one whose description "
                 "names it", folder, len(series), candidates[0].label(), role.upper())
        return candidates[0]
    raise DicomSeriesError(
        f"{folder}: {len(series)} image series found and the {role.upper()} cannot be told apart from the rest. "
        f"Say which one with --series {role}=SELECTOR (UID, series number or part of the description). "
        f"Series:\n  "
        f"{listing}"
    )


MAX_SLICE_GAP_RATIO = 1.5
"""A gap between neighbouring slices more than this times the series' usual spacing is a missing slice."""


def _check_slice_spacing(info: SeriesInfo, folder: Path) -> None:
    """Refuse a series whose slices are not evenly spaced along their normal: stacked at one spacing, every slice
    after a gap would sit in the wrong place.

    Raises:
        DicomSeriesError: naming the series, where the gap is and how wide.
    """
    positions = []
    normal = None
    for name in info.files:
        reader = sitk.ImageFileReader()
        reader.SetFileName(name)
        try:
            reader.ReadImageInformation()
            position = np.array([float(v) for v in _tag(reader, "0020|0032").split("\\")])
            if normal is None:
                cosines = np.array([float(v) for v in _tag(reader, "0020|0037").split("\\")])
                normal = np.cross(cosines[:3], cosines[3:])
        except (RuntimeError, ValueError):
            return  # no usable geometry tags: the series reader decides
        positions.append(float(position @ normal))
    steps = np.diff(np.sort(positions))
    if steps.size < 2:
        return
    usual = float(np.median(steps))
    widest = int(np.argmax(steps))
    if usual > 0 and steps[widest] > MAX_SLICE_GAP_RATIO * usual:
        raise DicomSeriesError(
            f"{folder}: series {info.label()} has a gap of {steps[widest]:.2f} mm after slice {widest + 1} where its "
            f"slices are {usual:.2f} mm apart: a slice is missing. Export the complete series again.")


def read_dicom_series(folder: Path, *, role: str = "flair", selector: str | None = None) -> tuple[Volume,
                                                                                                  SeriesInfo]:
    """Read one series of a DICOM folder into a Volume (RAS+ affine).

    Raises:
        DicomSeriesError: see `choose_series`; or the series cannot be read as one 3D volume.
    """
    folder = Path(folder)
    info = choose_series(list_series(folder), role=role, selector=selector, folder=folder)
    if len(info.files) < 2:
        raise DicomSeriesError(
            f"{folder}: series {info.label()} has a single file; expected one file per slice of a 3D volume "
            "(multi-frame enhanced DICOM is not supported yet: convert it with dcm2niix)."
        )
    _check_slice_spacing(info, folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(info.files))
    warnings = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK's own words about the series; errors below say it
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise DicomSeriesError(f"{folder}: series {info.label()} cannot be read: {exc}") from exc
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(warnings)
    if image.GetDimension() != 3:
        raise DicomSeriesError(f"{folder}: series {info.label()} is not a 3D volume.")
    volume = from_sitk(sitk.Cast(image, sitk.sitkFloat32))
    if float(volume.array.max()) == float(volume.array.min()):
        raise DicomSeriesError(f"{folder}: series {info.label()} has constant intensity; expected an MR image.")
    return volume, info


def write_dicom_series(volume: Volume, folder: Path, *, series_description: str, series_number: int = 1,
                       patient_id: str = "ANON", patient_name: str = "Anonymous",
                       study_uid: str | None = None) -> list[Path]:
    """Write `volume` as an MR DICOM series, one file per k slice (used for tests and round trips).

    Intensities are stored as int16 with a rescale slope chosen to keep four significant digits.

    Returns:
        The written file paths, in slice order.
    """
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ volume.affine
    spacing = np.array(volume.spacing_mm)
    row_cos = lps[:3, 0] / spacing[0]  # direction of increasing column index (voxel axis i)
    col_cos = lps[:3, 1] / spacing[1]  # direction of increasing row index (voxel axis j)
    arr = volume.array
    lo, hi = float(arr.min()), float(arr.max())
    slope = max((hi - lo) / 32000.0, 1e-6)
    intercept = lo
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    frame_uid = generate_uid()
    now = _dt.datetime(2026, 1, 1, 12, 0, 0)
    paths = []
    for k in range(volume.shape[2]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"slice_{k:04d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = "MR"
        ds.PatientID = patient_id
        ds.PatientName = patient_name
        ds.StudyDate = ds.SeriesDate = now.strftime("%Y%m%d")
        ds.StudyTime = ds.SeriesTime = now.strftime("%H%M%S")
        ds.SeriesDescription = series_description
        ds.SeriesNumber = series_number
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in lps[:3, :3] @ np.array([0.0, 0.0, k]) + lps[:3, 3]]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*row_cos, *col_cos)]
        ds.PixelSpacing = [f"{spacing[1]:.6f}", f"{spacing[0]:.6f}"]
        ds.SliceThickness = f"{spacing[2]:.6f}"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[0]
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope = f"{slope:.8g}"
        ds.RescaleIntercept = f"{intercept:.8g}"
        pixels = np.round((arr[:, :, k].T - intercept) / slope).astype(np.int16)
        ds.PixelData = pixels.tobytes()
        path = folder / f"slice_{k:04d}.dcm"
        pydicom.dcmwrite(str(path), ds, enforce_file_format=True)
        paths.append(path)
    return paths
