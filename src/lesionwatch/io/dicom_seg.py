"""DICOM Segmentation objects (highdicom) for label maps, referencing the DICOM series they were made from.

Each frame of the SEG matches one source slice: the label map is sampled (nearest neighbour) at the world position
of every pixel of that slice, so the SEG lines up with the source series in any viewer (PACS, OHIF, 3D Slicer)
whatever the orientation of the grid the labels were computed on. DICOM world coordinates are LPS; lesionwatch's
are RAS, so x and y change sign on the way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lesionwatch.errors import DicomSeriesError, MissingDependencyError
from lesionwatch.io.volume import LabelVolume

_TYPE2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                 "ReferringPhysicianName", "StudyID", "AccessionNumber")


def _slice_world_ras(ds: Any) -> npt.NDArray[np.float64]:
    """World RAS coordinates (rows, cols, 3) of every pixel centre of one DICOM slice."""
    position = np.array(ds.ImagePositionPatient, float)
    orientation = np.array(ds.ImageOrientationPatient, float)
    row_dir, col_dir = orientation[:3], orientation[3:]  # along a row (columns increase), along a column
    row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    r, c = np.meshgrid(np.arange(int(ds.Rows)), np.arange(int(ds.Columns)), indexing="ij")
    lps = position + c[..., None] * col_spacing * row_dir + r[..., None] * row_spacing * col_dir
    return np.asarray(lps * np.array([-1.0, -1.0, 1.0]))


def sample_on_slice(labels: LabelVolume, ds: Any) -> npt.NDArray[np.uint8]:
    """The label map sampled at every pixel of one DICOM slice (rows, cols); 0 outside the label grid."""
    world = _slice_world_ras(ds)
    vox = (world - labels.affine[:3, 3]) @ np.linalg.inv(labels.affine[:3, :3]).T
    coords = np.moveaxis(vox, -1, 0)
    return ndimage.map_coordinates(labels.array, coords, order=0, mode="constant", cval=0).astype(np.uint8)


def dicom_segmentation(labels: LabelVolume, source_files: Sequence[Path], segments: dict[int, str], *,
                       series_description: str, software_version: str, series_number: int = 901) -> Any:
    """A DICOM SEG dataset of `labels` on the geometry of a source series.

    Args:
        labels: label map (values = segment numbers, 0 = background) on any grid overlapping the series.
        source_files: the files of the source DICOM series (one per slice).
        segments: segment number -> label ("MS lesion", "new lesion"...).
        series_description: description of the new SEG series.
        software_version: written as the algorithm version.
        series_number: series number of the SEG.

    Returns:
        A pydicom Dataset (highdicom Segmentation); save it with `.save_as(path)`.

    Raises:
        DicomSeriesError: the files are not one readable image series.
        MissingDependencyError: highdicom is not installed.
    """
    try:
        import highdicom as hd
        import pydicom
        from pydicom.sr.codedict import codes
    except ImportError as exc:  # pragma: no cover - highdicom is a core dependency
        raise MissingDependencyError.for_extra("dicom", "DICOM Segmentation output") from exc
    try:
        sources = [pydicom.dcmread(str(f)) for f in source_files]
    except Exception as exc:
        raise DicomSeriesError(f"{Path(source_files[0]).parent}: cannot read the source series again: {exc}") from exc
    for ds in sources:  # type-2 attributes a SEG copies; some exporters leave them out instead of empty
        for keyword in _TYPE2_COPIED:
            if keyword not in ds:
                setattr(ds, keyword, "")
    orientation = np.array(sources[0].ImageOrientationPatient, float)
    normal = np.cross(orientation[:3], orientation[3:])
    sources.sort(key=lambda ds: float(np.dot(normal, np.array(ds.ImagePositionPatient, float))))
    frames = np.stack([sample_on_slice(labels, ds) for ds in sources])
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number, segment_label=label,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=hd.sr.CodedConcept("52988006", "SCT", "Lesion"),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=hd.AlgorithmIdentificationSequence(
                name="lesionwatch", version=software_version, family=codes.cid7162.ArtificialIntelligence),
        )
        for number, label in sorted(segments.items())
    ]
    return hd.seg.Segmentation(
        source_images=sources, pixel_array=frames, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="lesionwatch",
        manufacturer_model_name="lesionwatch", software_versions=software_version, device_serial_number="0",
        series_description=series_description, omit_empty_frames=False,
    )
