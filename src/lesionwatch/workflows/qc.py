"""Automatic quality-control warnings of one study, kept in its summary.json and shown in its report."""

from __future__ import annotations

import numpy as np

from lesionwatch.lesions.table import LesionTable
from lesionwatch.preprocessing.pipeline import PreprocessedStudy

MIN_SHARPNESS = 0.002
"""A registration whose alignment is not on a clear NMI peak is flagged (see `alignment_sharpness`: aligned pairs
of the shared scans scored 0.004-0.031, MSLesSeg P14 lowest at 0.004-0.006; pairs moved by 2-4 mm or turned by
5-10 degrees -0.027 to +0.0008). An absolute NMI threshold cannot do this: skull-stripped pairs score 1.05-1.09
aligned, raw heads 1.07-1.11."""
NMI_LOSS = 0.02
"""A registration that lowers the NMI by more than this from the header alignment is flagged."""
BRAIN_ML = (800.0, 2200.0)
"""Plausible adult brain-mask volumes (ml); outside, the brain extraction probably failed."""
MAX_SLICE_MM = 3.0
"""Slices thicker than this hide small lesions."""
MIN_LESION_CONTRAST_SD = 1.5
"""Median lesion FLAIR contrast (NAWM SDs) below which the FLAIR contrast is called low."""
MIN_CORTEX_MINUS_WM_Z = -0.45
"""On a FLAIR the cortex is about as bright as white matter or brighter; on a T1 (or an inverted image) darker.
Median robust z of cortex minus white matter (template regions, white matter below robust z 1 so that lesions do not
lift it): 17 FLAIRs of the shared data (MSLesSeg, Lesjak, lesjak_long and ISBI-2015, labelled and unlabelled) from
-0.19 (ISBI test02) up, over the whole white matter from -0.32 up (leaving its bright voxels out can only raise the
difference); T1s given as FLAIR -0.34 (MSLesSeg P39, let through) and -0.60 (lesjak_long patient01). The refusal
sits well below every FLAIR: a real FLAIR refused costs more than a T1 let through, which the report still shows."""
MAX_VENTRICLES_MINUS_WM_Z = 1.5
"""On a FLAIR the ventricles are darker than white matter (the same 17 FLAIRs, whole white matter: -4.2 to -0.1
robust z, the least where the ventricles are small or the fluid poorly suppressed); far brighter means an inverted
image or a T2 (MSLesSeg P39's FLAIR inverted: +4.9)."""


def contrast_problems(flair_tissue_z: dict[str, float]) -> list[str]:
    """Why the FLAIR's tissue contrast (`RegionMap.flair_tissue_z`) cannot be a FLAIR's; empty when it can."""
    problems = []
    v, w, c = (flair_tissue_z.get(k) for k in ("ventricles", "white_matter", "cortex"))
    if v is not None and w is not None and v - w > MAX_VENTRICLES_MINUS_WM_Z:
        problems.append(f"the FLAIR's ventricles are brighter than its white matter ({v - w:+.1f} robust SDs): an "
                        "inverted image or a T2, not a FLAIR")
    if c is not None and w is not None and c - w < MIN_CORTEX_MINUS_WM_Z:
        problems.append(f"the FLAIR's cortex is darker than its white matter ({c - w:+.2f} robust SDs): a T1's "
                        "contrast (or an inverted image), not a FLAIR")
    return problems


def qc_warnings(pre: PreprocessedStudy, table: LesionTable) -> list[str]:
    """Plain-language warnings about registration, brain mask, slice thickness and lesion contrast."""
    warnings = []
    for name, reg in pre.registrations.items():
        # headers often align the sequences already: only a clear loss of similarity is suspicious
        if reg.sharpness < MIN_SHARPNESS or \
                reg.normalized_mutual_information < reg.initial_normalized_mutual_information - NMI_LOSS:
            nmi = reg.normalized_mutual_information
            warnings.append(f"{name.upper()} to FLAIR registration looks poor (NMI {nmi:.3f}"
                            f", before {reg.initial_normalized_mutual_information:.3f}; sharpness "
                            f"{reg.sharpness:+.3f}): check the registration picture.")
    brain_ml = pre.native_brain_mask.volume_mm3 / 1000
    if not BRAIN_ML[0] <= brain_ml <= BRAIN_ML[1]:
        warnings.append(f"brain mask of {brain_ml:.0f} ml is outside the usual {BRAIN_ML[0]:.0f}-{BRAIN_ML[1]:.0f} "
                        "ml: check the brain-mask picture.")
    thickest = max(pre.native_flair.spacing_mm)
    if thickest > MAX_SLICE_MM:
        warnings.append(f"FLAIR slices are {thickest:.1f} mm thick: lesions smaller than about {thickest:.0f} mm "
                        "across may be missed or merged.")
    contrasts = [c for c in table.column("flair_contrast_nawm_sd") if c is not None]
    if contrasts and float(np.median(contrasts)) < MIN_LESION_CONTRAST_SD:
        warnings.append(f"low lesion contrast on FLAIR (median {float(np.median(contrasts)):.1f} NAWM SDs): "
                        "results are less reliable.")
    return warnings
