"""Checking and storing uploads: the job form's fields, file types by content, size limits, safe zip extraction,
and which uploaded DICOM series is which.

No user-supplied string ever becomes a path: files are stored under fixed names chosen by the server.
"""

from __future__ import annotations

import gzip
import io
import re
import shutil
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import HTTPException, UploadFile
from starlette.datastructures import UploadFile as StarletteUploadFile

from lesionwatch.errors import DicomSeriesError
from lesionwatch.io.dicom import choose_series, list_series


class UploadError(ValueError):
    """An upload the server refuses; the message is safe to show to the user (no paths, no traces)."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class UploadLimits:
    """Limits on what is accepted.

    Attributes:
        max_file_bytes: largest single uploaded file.
        max_zip_members: most files in a zip.
        max_unzipped_bytes: largest total size once a zip is extracted.
        max_ratio: largest compression ratio of a zip member (zip bombs compress far better than images).
        max_voxels: most voxels a NIfTI upload may declare in its header (2^27: a 512 x 512 x 512 volume, 0.5 GB
            in single precision; an analysis needs several copies), checked before any job starts.
    """

    max_file_bytes: int = 512 * 1024 * 1024
    max_zip_members: int = 5000
    max_unzipped_bytes: int = 2 * 1024 * 1024 * 1024
    max_ratio: float = 200.0
    max_voxels: int = 2 ** 27


def _header_bytes(head: bytes) -> bytes | None:
    """The first 544 bytes of the file `head` starts (gunzipped when it is gzip), or None when it cannot be read."""
    if head[:2] != b"\x1f\x8b":
        return head
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(head)) as gz:
            return gz.read(544)
    except (OSError, EOFError):
        return None


def sniff_nifti(head: bytes) -> str | None:
    """".nii.gz" or ".nii" when `head` (the first bytes of a file) is a NIfTI-1/2 image, else None."""
    data = _header_bytes(head)
    if data is None or len(data) < 348:
        return None
    suffix = ".nii.gz" if head[:2] == b"\x1f\x8b" else ".nii"
    for order in ("<", ">"):
        size = struct.unpack(f"{order}i", data[:4])[0]
        if size == 348 and data[344:348] in (b"n+1\x00", b"ni1\x00"):
            return suffix
        if size == 540 and data[4:8] in (b"n+2\x00", b"ni2\x00"):
            return suffix
    return None


def nifti_shape(head: bytes) -> tuple[int, ...] | None:
    """The image dimensions a NIfTI-1/2 header (the first bytes of the file, gzipped or not) declares, or None."""
    data = _header_bytes(head)
    if data is None:
        return None
    for order in ("<", ">"):
        if len(data) >= 348 and struct.unpack(f"{order}i", data[:4])[0] == 348:
            dims = struct.unpack(f"{order}8h", data[40:56])
        elif len(data) >= 540 and struct.unpack(f"{order}i", data[:4])[0] == 540:
            dims = struct.unpack(f"{order}8q", data[16:80])
        else:
            continue
        n = dims[0] if 1 <= dims[0] <= 7 else 0
        return tuple(max(int(d), 1) for d in dims[1:1 + n])
    return None


def check_voxel_count(head: bytes, what: str, limits: UploadLimits) -> None:
    """Refuse a NIfTI whose header declares more voxels than `limits.max_voxels` (HTTP 413)."""
    shape = nifti_shape(head)
    if shape is None:
        return
    count = 1
    for d in shape:
        count *= d
    if count > limits.max_voxels:
        raise UploadError(f"{what} declares {' x '.join(map(str, shape))} voxels ({count:,}); the most accepted is "
                          f"{limits.max_voxels:,}", 413)


def is_zip(head: bytes) -> bool:
    return head[:4] == b"PK\x03\x04"


def safe_extract(archive: Path, target: Path, limits: UploadLimits) -> int:
    """Extract a zip into `target`, refusing absolute paths, '..', links and zip bombs; return the file count.

    Raises:
        UploadError: the archive breaks a rule (nothing is left extracted then).
    """
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise UploadError("the zip file is damaged") from exc
    with zf:
        members = zf.infolist()
        if len(members) > limits.max_zip_members:
            raise UploadError(f"the zip holds {len(members)} files; at most {limits.max_zip_members} are accepted")
        total = 0
        for m in members:
            name = PurePosixPath(m.filename.replace("\\", "/"))
            if not name.parts:
                raise UploadError("the zip holds a file with an empty name; refused")
            if name.is_absolute() or ".." in name.parts or m.filename.startswith(("/", "\\")) or ":" in name.parts[0]:
                raise UploadError("the zip holds a file with an absolute path or '..'; refused")
            mode = m.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UploadError("the zip holds a symbolic link; refused")
            total += m.file_size
            if total > limits.max_unzipped_bytes:
                raise UploadError("the zip expands to more than the size limit; refused", 413)
            if m.compress_size and m.file_size / m.compress_size > limits.max_ratio:
                raise UploadError("the zip is compressed suspiciously well (a zip bomb?); refused", 413)
        target.mkdir(parents=True, exist_ok=True)
        try:
            return _extract_members(zf, members, target, limits)
        except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError) as exc:
            # a member that does not match its header (size, CRC), an unknown compression, an encrypted member
            shutil.rmtree(target, ignore_errors=True)
            raise UploadError(f"the zip file is damaged ({exc}); refused") from exc
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise


def _extract_members(zf: zipfile.ZipFile, members: list[zipfile.ZipInfo], target: Path, limits: UploadLimits
                     ) -> int:
    count = 0
    for index, m in enumerate(members):
        if m.is_dir():
            continue
        # server-chosen names keep the folder layout out of the picture: DICOM is found by content
        dest = target / f"{index:05d}.dcm"
        written = 0
        with zf.open(m) as src, dest.open("wb") as out:
            while chunk := src.read(1 << 20):
                written += len(chunk)
                if written > m.file_size or written > limits.max_unzipped_bytes:
                    raise UploadError("a zip member is larger than it declares; refused", 413)
                out.write(chunk)
        count += 1
    return count


FIELD = re.compile(r"^(flair|t1|t2|pd|dicom)(?:_([1-9]))?$")
SERIES_FIELD = re.compile(r"^series_(flair|t1|t2|pd)(?:_([1-9]))?$")
OPTION_FIELDS = ("kind", "method", "threshold")


async def _save(upload: StarletteUploadFile, dest: Path, limits: UploadLimits) -> bytes:
    """Stream an upload to `dest` within the size limit; return its first bytes (for type sniffing)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    head = b""
    with dest.open("wb") as out:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > limits.max_file_bytes:
                raise UploadError(f"a file is larger than {limits.max_file_bytes // 2 ** 20} MB", 413)
            if len(head) < 4096:
                head += chunk[: 4096 - len(head)]
            out.write(chunk)
    if size == 0:
        raise UploadError("an uploaded file is empty")
    return head


async def store_upload(form: Any, folder: Path, kind: str, limits: UploadLimits) -> dict[str, Any]:
    """Check and store the files of a job under server-chosen names; return the job parameters."""
    studies: dict[int, dict[str, Any]] = {}
    for field, value in form.multi_items():
        match = FIELD.match(field)
        if match is None:
            if field not in OPTION_FIELDS and SERIES_FIELD.match(field) is None:
                raise UploadError(f"unknown form field {field[:40]!r}: expected kind, method, threshold, "
                                  "flair_k, t1_k, t2_k, pd_k, dicom_k or series_SEQ_k")
            if not isinstance(value, str):
                raise UploadError(f"field {field} must be text, not a file")
            continue
        if not isinstance(value, StarletteUploadFile | UploadFile):
            raise UploadError(f"field {field} must be a file")
        seq, index = match.group(1), int(match.group(2) or 1)
        study = studies.setdefault(index, {"files": {}, "series": {}})
        if seq in study["files"] or (seq == "dicom" and "dicom" in study):
            raise UploadError(f"study {index}: {seq} given twice")
        tmp = folder / f"study{index}" / f"{seq}.upload"
        head = await _save(value, tmp, limits)
        if seq == "dicom":
            if not is_zip(head):
                raise UploadError(f"study {index}: the DICOM upload must be a zip file")
            safe_extract(tmp, folder / f"study{index}" / "dicom", limits)
            tmp.unlink()
            study["dicom"] = f"study{index}/dicom"
        else:
            suffix = sniff_nifti(head)
            if suffix is None:
                raise UploadError(f"study {index}: the {seq.upper()} file is not a NIfTI image (.nii or .nii.gz)",
                                  415)
            check_voxel_count(head, f"study {index}: the {seq.upper()} file", limits)
            final = tmp.with_name(f"{seq}{suffix}")
            tmp.rename(final)
            study["files"][seq] = final.relative_to(folder).as_posix()
    for field, value in form.multi_items():
        match = SERIES_FIELD.match(field)
        if match and isinstance(value, str) and value.strip():
            studies.setdefault(int(match.group(2) or 1), {"files": {}, "series": {}})["series"][match.group(1)] = \
                value.strip()[:128]
    if not studies:
        raise UploadError("no study uploaded: send a FLAIR (NIfTI) or a zipped DICOM folder")
    order = sorted(studies)
    if kind == "segment" and len(order) != 1:
        raise UploadError("a segment job takes one study; use kind=followup for several")
    if kind == "followup" and len(order) < 2:
        raise UploadError("a follow-up needs at least two studies")
    for index in order:
        _resolve_dicom(studies[index], folder, index)
        if "flair" not in studies[index]["files"]:
            raise UploadError(f"study {index}: a FLAIR is required")
    params: dict[str, Any] = {"studies": [studies[i] for i in order], "labels": [f"study{i}" for i in order]}
    method = str(form.get("method", "model"))
    if method not in ("model", "classical"):
        raise UploadError("method must be model or classical")
    params["method"] = method
    threshold = form.get("threshold")
    if threshold not in (None, ""):
        try:
            params["threshold"] = float(str(threshold))
        except ValueError:
            raise UploadError("threshold must be a number between 0 and 1") from None
        if not 0.0 <= params["threshold"] <= 1.0:
            raise UploadError("threshold must be a number between 0 and 1")
    return params


def _resolve_dicom(study: dict[str, Any], folder: Path, index: int) -> None:
    """Pick the FLAIR (and T1...) series of an uploaded DICOM folder, or ask the user (409 with the list)."""
    if "dicom" not in study:
        return
    dicom = folder / study["dicom"]
    series = list_series(dicom)
    listing = [{"uid": s.uid, "number": s.series_number, "description": s.description, "files": len(s.files)}
               for s in series]
    if not series:
        raise UploadError(f"study {index}: the zip holds no DICOM image series", 415)
    chosen = study["series"]
    try:
        flair = choose_series(series, role="flair", selector=chosen.get("flair"), folder=Path(f"study {index}"))
    except DicomSeriesError:
        raise HTTPException(409, {"message": f"study {index}: which series is the FLAIR? Choose one and send it as "
                                             f"series_flair_{index}", "study": index, "series": listing}) from None
    study["files"]["flair"] = study["dicom"]
    study["series"]["flair"] = flair.uid
    for seq in ("t1", "t2", "pd"):
        if seq in chosen:
            study["files"][seq] = study["dicom"]
