"""The output folders' layout: every file name lesionwatch writes, in one place. Writers and readers (the workflows,
the reports, the web app, the benchmarks) import the names from here and never retype them.

A `segment` folder (and each study folder of a follow-up) holds the native-grid images, the lesion table and the
summary; a follow-up folder adds the change table, the transforms and `common/`, the studies in their common space.
Spaces are in the names (docs/conventions.md).
"""

from __future__ import annotations

LOG_NAME = "lesionwatch.log"
PROVENANCE_NAME = "provenance.json"
SUMMARY_NAME = "summary.json"
REPORT_HTML_NAME = "report.html"
REPORT_PDF_NAME = "report.pdf"

BRAIN_MASK_NAME = "brain_mask_space-native.nii.gz"
FLAIR_NAME = "flair_space-native_desc-biascorrected.nii.gz"
MASK_NAME = "lesion_mask_space-native.nii.gz"
PROBABILITY_NAME = "lesion_probability_space-native.nii.gz"
LABELS_NAME = "lesion_labels_space-native.nii.gz"
REGIONS_NAME = "regions_space-native.nii.gz"
WORKING_BRAIN_MASK_NAME = "brain_mask_space-working.nii.gz"
LESION_TABLE_NAME = "lesion_table"
"""Stem of the lesion table: `.csv` and `.json` are written."""

CHANGE_MAP_NAME = "change_map_space-native.nii.gz"
CHANGE_TABLE_NAME = "change_table"
"""Stem of the follow-up's change table: `.csv` and `.json` are written."""
TRANSFORMS_NAME = "transforms.json"
COMMON_DIR = "common"
"""Follow-up subfolder of the studies in their common space (`common_name`)."""

FIGURES_DIR = "figures"
"""Subfolder of the report's pictures."""

GROUP_DIR = "group"
"""A cohort's group-level tables and plots, in its derivatives folder."""

TASK_FILE = "task.json"
"""A cohort task's record, in its output folder."""


def registered_name(sequence: str) -> str:
    """File name of a registered, normalised sequence on the native FLAIR grid."""
    return f"{sequence}_space-native_desc-registered.nii.gz"


def working_name(sequence: str) -> str:
    """File name of a sequence on the working grid after bias correction and normalisation (`--intermediates`)."""
    return f"{sequence}_space-working_desc-normalized.nii.gz"


def common_name(kind: str, study: str) -> str:
    """File name, inside COMMON_DIR, of one study's image in the common space: kind "flair", "lesion_labels" or
    "change_map"."""
    return f"{kind}_{study}_space-common.nii.gz"


def reading_figure_name(study: str, lesion_id: int) -> str:
    """File name, inside FIGURES_DIR, of the side-by-side crops of one new or enlarging lesion of `study` (against
    the study before it)."""
    return f"change_{study}_lesion{lesion_id:04d}.png"
