"""Reading and writing NIfTI-1 files (`.nii`, `.nii.gz`) with checks that quote the file.

Reading validates what every later stage relies on: a 3D image (a 4D file with a single volume is accepted),
finite values, and some contrast. Writing is atomic and keeps the reference image's header, with qform and sform
both set to the affine, so outputs in the native grid open in every viewer exactly over their source.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import numpy.typing as npt

from lesionwatch.errors import InputFileNotFoundError, InputImageError
from lesionwatch.io.atomic import write_atomically
from lesionwatch.io.volume import LabelVolume, Volume

log = logging.getLogger(__name__)

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti_path(path: Path) -> bool:
    """True when the file name ends in `.nii` or `.nii.gz`."""
    return path.name.lower().endswith(NIFTI_SUFFIXES)


MAX_VOXELS = 2 ** 30
"""More voxels than this (8 GB in double precision) is no MR scan but a corrupt header."""


def _load(path: Path) -> tuple[npt.NDArray[np.float64], nib.Nifti1Image]:
    path = Path(path)
    if not path.exists():
        raise InputFileNotFoundError(f"{path}: file not found. Check the path and spelling.")
    if path.is_dir():
        raise InputImageError(f"{path}: is a folder, expected a NIfTI file (.nii or .nii.gz).")
    try:
        with _nibabel_quiet():  # nibabel logs the header problems it meets: the error below says them
            img = nib.load(str(path))
    except nib.filebasedimages.ImageFileError as exc:
        raise InputImageError(
            f"{path}: not a NIfTI image ({exc}). Expected a .nii or .nii.gz file; convert DICOM with "
            "`dcm2niix` or pass the DICOM folder itself."
        ) from exc
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError,
            nib.spatialimages.HeaderDataError) as exc:
        raise InputImageError(f"{path}: cannot be read as NIfTI ({exc}). The file may be corrupt.") from exc
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise InputImageError(f"{path}: is a {type(img).__name__}, expected a NIfTI-1 or NIfTI-2 image.")
    _check_spatial_header(img, path)
    dtype = np.dtype(img.get_data_dtype())
    if dtype.kind == "c" or dtype.fields is not None:
        names = dtype.names or ()
        kind = ("complex" if dtype.kind == "c" else "colour (RGB)" if names[:3] == ("R", "G", "B")
                else f"multi-channel ({', '.join(names)})")
        raise InputImageError(f"{path}: holds {kind} voxels; expected one real intensity per voxel (a magnitude "
                              "image). Export the magnitude image, or the scan in greyscale.")
    voxels = int(np.prod([int(d) for d in img.shape], dtype=np.float64))
    if voxels > MAX_VOXELS:
        raise InputImageError(f"{path}: the header declares {' x '.join(map(str, img.shape))} voxels ({voxels:,}), "
                              f"more than any scan (at most {MAX_VOXELS:,}); the header is corrupt.")
    try:
        data = np.asarray(img.dataobj, dtype=np.float64)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError) as exc:
        raise InputImageError(
            f"{path}: the voxel data cannot be read ({exc}); the file is truncated or corrupt. "
            "Copy or export it again."
        ) from exc
    return data, img


@contextlib.contextmanager
def _nibabel_quiet() -> Iterator[None]:
    logger = nib.imageglobals.logger
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _header_as_stored(img: nib.Nifti1Image, path: Path) -> nib.Nifti1Header:
    """The header as the file holds it: nibabel repairs some fields on loading (voxel sizes of 0 become 1)."""
    try:
        with nib.openers.ImageOpener(str(path)) as fobj:
            return type(img.header).from_fileobj(fobj, check=False)
    except (OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile):
        return img.header


def _check_spatial_header(img: nib.Nifti1Image, path: Path) -> None:
    """Refuse a header whose voxel-to-world mapping is missing, singular or not finite: every volume in mm3 and
    every output's position depends on it."""
    header = _header_as_stored(img, path)
    zooms = np.asarray(header["pixdim"][1:4], dtype=np.float64)
    if int(header["qform_code"]) == 0 and int(header["sform_code"]) == 0 and not np.all(zooms > 0):
        raise InputImageError(
            f"{path}: the header has no spatial information (qform and sform codes 0, voxel sizes "
            f"{', '.join(f'{z:g}' for z in zooms)}): voxel size and orientation are unknown. Convert the scan again "
            "from DICOM (e.g. with dcm2niix) so that the header keeps them.")
    if int(header["qform_code"]) == 0 and int(header["sform_code"]) == 0:
        log.warning("%s: the header gives no orientation (qform and sform codes 0); taking the voxel axes as RAS "
                    "with the stored voxel sizes. Check left and right in the results.", path)
    try:
        affine = _nifti_affine(img)
    except (ValueError, np.linalg.LinAlgError, nib.spatialimages.HeaderDataError) as exc:
        raise InputImageError(f"{path}: the header's voxel-to-world affine cannot be read ({exc}).") from exc
    if not np.all(np.isfinite(affine)):
        raise InputImageError(
            f"{path}: the header's voxel-to-world affine (sform/qform) holds NaN or infinite values. Fix the header "
            "(e.g. `fslorient -copyqform2sform` when the qform is good) or convert the scan again.")
    if abs(float(np.linalg.det(affine[:3, :3]))) < 1e-6:
        raise InputImageError(
            f"{path}: the header's voxel-to-world affine is singular (determinant 0: voxel axes collapse onto "
            "each other). Fix the header or convert the scan again.")


def _squeeze_to_3d(data: npt.NDArray[np.float64], path: Path) -> npt.NDArray[np.float64]:
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputImageError(
            f"{path}: expected a 3D image, got {data.ndim}D with shape {data.shape}. "
            "Pass a single 3D volume (split 4D series first)."
        )
    if min(data.shape) < 2:
        raise InputImageError(f"{path}: expected a 3D image, got shape {data.shape} (a single slice).")
    return data


def _nifti_affine(img: nib.Nifti1Image) -> npt.NDArray[np.float64]:
    # get_best_affine prefers the sform, then the qform, as the NIfTI standard asks.
    return np.asarray(img.header.get_best_affine(), dtype=np.float64)


def read_volume(path: Path) -> Volume:
    """Read a 3D intensity image.

    Args:
        path: a `.nii` or `.nii.gz` file.

    Returns:
        Volume with float32 data in the file's own voxel order and its voxel-to-RAS+ affine (mm).

    Raises:
        InputFileNotFoundError: the file does not exist.
        InputImageError: not a NIfTI file, corrupt or truncated, not 3D, non-finite values, or constant.
    """
    path = Path(path)
    data, img = _load(path)
    data = _squeeze_to_3d(data, path)
    n_bad = int(np.count_nonzero(~np.isfinite(data)))
    if n_bad:
        raise InputImageError(
            f"{path}: {n_bad} voxel(s) are NaN or infinite. Expected finite intensities; "
            "re-export the image or replace the bad voxels."
        )
    if float(data.max()) == float(data.min()):
        raise InputImageError(
            f"{path}: every voxel has the value {float(data.min())}; expected an MR image with contrast."
        )
    with np.errstate(over="ignore"):
        single = data.astype(np.float32)
    if not np.all(np.isfinite(single)):
        slope = getattr(img.dataobj, "slope", float("nan"))
        raise InputImageError(
            f"{path}: the intensities overflow single precision once scaled (scl_slope {slope:g}, largest "
            f"{float(np.abs(data).max()):.3g}); the header's scaling is wrong. Fix scl_slope / scl_inter.")
    header = img.header.copy()
    return Volume(single, _nifti_affine(img), header)


def read_labels(path: Path) -> LabelVolume:
    """Read a 3D label image (mask). Float masks are binarised at 0.5, as the shared data's masks need.

    Raises:
        InputFileNotFoundError, InputImageError: as `read_volume`, except that an empty mask is allowed.
    """
    path = Path(path)
    data, img = _load(path)
    return _as_labels(_squeeze_to_3d(data, path), img, path)


def _as_labels(data: npt.NDArray[np.float64], img: nib.Nifti1Image, path: Path) -> LabelVolume:
    if not np.all(np.isfinite(data)):
        raise InputImageError(f"{path}: the label image holds NaN or infinite values.")
    if np.all(data == np.round(data)):
        labels = data.astype(np.int32)
    else:
        labels = (data > 0.5).astype(np.uint8)
    if labels.min() >= 0 and labels.max() <= 255:
        labels = labels.astype(np.uint8)
    return LabelVolume(labels, _nifti_affine(img), img.header.copy())


MAX_MASK_VALUES = 1000
"""A mask or lesion label map holds a few values (0/1, or one id per lesion); a scan holds thousands."""


def read_mask(path: Path) -> LabelVolume:
    """Read a lesion mask or lesion label map (non-zero = lesion) and refuse an image that is not one: fractional
    values outside 0-1 (a mask resampled with interpolation stays inside) or more than MAX_MASK_VALUES distinct
    values (a scan passed as a mask).

    Raises:
        InputFileNotFoundError, InputImageError: as `read_labels`, or the image is not a mask.
    """
    path = Path(path)
    data, img = _load(path)
    data = _squeeze_to_3d(data, path)
    fractional = data != np.round(data)
    if fractional.any() and (data.min() < 0 or data.max() > 1):
        raise InputImageError(f"{path}: holds intensities from {data.min():.4g} to {data.max():.4g}, not a mask "
                              "(0/1, or integer lesion ids). Pass the mask, not the scan.")
    flat = data.ravel()
    values = np.unique(flat[:: max(1, flat.size // 2_000_000)]).size
    if values > MAX_MASK_VALUES:
        raise InputImageError(f"{path}: holds {values} distinct values, not a mask (0/1, or integer lesion ids). "
                              "Pass the mask, not the scan.")
    return _as_labels(data, img, path)


def to_nifti(image: Volume | LabelVolume, dtype: npt.DTypeLike | None = None) -> nib.Nifti1Image:
    """Build a NIfTI-1 image, reusing the image's own header (when it has one) with qform = sform = affine."""
    if dtype is None:
        dtype = np.float32 if isinstance(image, Volume) else image.array.dtype
    array = np.asarray(image.array).astype(dtype, copy=False)
    header = image.header.copy() if image.header is not None else None
    if header is not None and not isinstance(header, nib.Nifti1Header):
        header = None
    nii = nib.Nifti1Image(array, image.affine, header=header)
    hdr = nii.header
    hdr.set_data_dtype(array.dtype)
    qcode = int(hdr["qform_code"]) if header is not None and int(hdr["qform_code"]) > 0 else 1
    scode = int(hdr["sform_code"]) if header is not None and int(hdr["sform_code"]) > 0 else qcode
    nii.set_qform(image.affine, code=qcode)
    nii.set_sform(image.affine, code=scode)
    if not np.allclose(nii.get_qform(), image.affine, atol=1e-3):
        # a sheared affine has no qform (a rotation, voxel sizes and a shift): leave the qform unset rather than
        # give a nearby one that disagrees with the sform, so every viewer reads the sform
        nii.set_qform(None, code=0)
    hdr["scl_slope"] = np.nan  # data are stored unscaled
    hdr["scl_inter"] = np.nan
    hdr["cal_min"] = 0
    hdr["cal_max"] = 0
    if header is not None:
        hdr.set_xyzt_units("mm", hdr.get_xyzt_units()[1])
    else:
        hdr.set_xyzt_units("mm", "sec")
    return nii


def write_nifti(image: Volume | LabelVolume, path: Path, dtype: npt.DTypeLike | None = None) -> Path:
    """Write `image` to `path` (`.nii` or `.nii.gz`) atomically and return the path."""
    path = Path(path)
    if not is_nifti_path(path):
        raise ValueError(f"{path}: output names must end in .nii or .nii.gz")
    nii = to_nifti(image, dtype)
    log.debug("writing %s", path)
    return write_atomically(path, lambda tmp: nib.save(nii, str(tmp)))
