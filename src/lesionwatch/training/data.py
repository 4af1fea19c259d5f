"""Training data: finding labelled cases on disk by BIDS layout or by file-name tags, and preparing them.

Tag matching: a file matches a tag when the first or the last underscore-separated token of its name (without
extension) equals the tag, case-insensitively: `P14_T1_FLAIR.nii.gz` matches `flair`, `FLAIR_N4_brain.nii.gz`
matches `flair`, `P14_T1_MASK.nii.gz` matches `mask`. The patient of a case is the first folder below the data
root, so several time points of one patient always fall on the same side of a split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lesionwatch.errors import BidsLayoutError
from lesionwatch.io.nifti import NIFTI_SUFFIXES


@dataclass(frozen=True)
class LabelledCase:
    """Files of one labelled training case."""

    name: str
    patient: str
    flair: Path
    mask: Path
    t1: Path | None = None


@dataclass(frozen=True)
class PreparedCase:
    """A case on the working grid, ready for patch sampling.

    Attributes:
        channels: (C, x, y, z) float32, sequences in the model's input order (missing ones zero).
        label: (x, y, z) uint8 lesion mask.
        brain: (x, y, z) bool brain mask.
        affine: voxel-to-RAS+ affine of the grid (None when unknown, e.g. arrays made in memory).
        transplants: other patients' whole lesion masks on this grid, each as flat voxel indices inside the brain
            (see `lesionwatch.training.augmentation.transplant_lesions`); empty unless training asked for them.
        lesions: the case's own lesions (26-connected), each as flat voxel indices, for sampling every lesion
            equally often (see `AugmentationConfig.per_lesion_fraction`); empty unless asked for.
    """

    name: str
    patient: str
    channels: npt.NDArray[np.float32]
    label: npt.NDArray[np.uint8]
    brain: npt.NDArray[np.bool_]
    affine: npt.NDArray[np.float64] | None = None
    transplants: tuple[npt.NDArray[np.int64], ...] = ()
    lesions: tuple[npt.NDArray[np.int64], ...] = ()


def _tokens(path: Path) -> list[str]:
    name = path.name
    for suffix in NIFTI_SUFFIXES[::-1]:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return [t.lower() for t in name.split("_") if t]


def _matches(path: Path, tags: tuple[str, ...]) -> bool:
    tokens = _tokens(path)
    return bool(tokens) and (tokens[0] in tags or tokens[-1] in tags)


def find_tagged_cases(root: Path, *, flair_tags: tuple[str, ...] = ("flair",), t1_tags: tuple[str, ...] = ("t1",),
                      mask_tags: tuple[str, ...] = ("mask",)) -> list[LabelledCase]:
    """Every folder under `root` holding one FLAIR and one mask (by tags) is a case."""
    root = Path(root)
    cases = []
    folders = sorted({p.parent for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(NIFTI_SUFFIXES)})
    for folder in folders:
        files = [p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(NIFTI_SUFFIXES)]
        flair = [p for p in files if _matches(p, flair_tags)]
        mask = [p for p in files if _matches(p, mask_tags)]
        t1 = [p for p in files if _matches(p, t1_tags) and p not in flair]
        if len(flair) != 1 or len(mask) != 1:
            continue
        rel = folder.relative_to(root)
        patient = rel.parts[0] if rel.parts else folder.name
        cases.append(LabelledCase("_".join(rel.parts) or folder.name, f"{root.name}/{patient}", flair[0], mask[0],
                                  t1[0] if len(t1) == 1 else None))
    return cases


def find_bids_cases(root: Path) -> list[LabelledCase]:
    """Sessions of a BIDS dataset whose lesion mask is in a derivatives folder (`*_desc-lesions_mask.nii.gz`)."""
    root = Path(root)
    masks = {p.name.split("_desc-")[0]: p for p in (root / "derivatives").rglob("*_desc-lesions_mask.nii*")}
    cases = []
    for flair in sorted(root.glob("sub-*/**/anat/*_FLAIR.nii*")):
        if "derivatives" in flair.parts:
            continue
        key = flair.name.rsplit("_FLAIR", 1)[0]
        if key not in masks:
            continue
        t1 = next(iter(sorted(flair.parent.glob(f"{key}_T1w.nii*"))), None)
        subject = next(p for p in flair.parts if p.startswith("sub-"))
        cases.append(LabelledCase(key, subject, flair, masks[key], t1))
    if not cases and list(root.glob("sub-*")):
        raise BidsLayoutError(f"{root}: BIDS subjects found but no lesion masks under derivatives/ "
                              "(expected *_desc-lesions_mask.nii.gz)")
    return cases


def split_by_patient(cases: list[LabelledCase], *, validation_patients: tuple[str, ...] = (),
                     validation_fraction: float = 0.2, seed: int = 0
                     ) -> tuple[list[LabelledCase], list[LabelledCase]]:
    """Split into (train, validation) with every patient wholly on one side.

    Named `validation_patients` win; otherwise a random `validation_fraction` of the patients (at least one when
    there are two or more; none when the fraction is 0, for training on every patient with a fixed budget).
    """
    patients = sorted({c.patient for c in cases})
    if validation_patients:
        val = {p for p in patients if p in validation_patients or p.split("/")[-1] in validation_patients}
    else:
        rng = np.random.default_rng(seed)
        n_val = (max(1, round(validation_fraction * len(patients)))
                 if len(patients) > 1 and validation_fraction > 0 else 0)
        val = set(rng.permutation(patients)[:n_val].tolist())
    return [c for c in cases if c.patient not in val], [c for c in cases if c.patient in val]
