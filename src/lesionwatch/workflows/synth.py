"""The synth workflow: write a synthetic case as a BIDS dataset with its truth as a derivatives dataset.

Layout (ses-01, ses-02, ... one per time point):

    OUT/dataset_description.json
    OUT/sub-<label>/ses-01/anat/sub-<label>_ses-01_FLAIR.nii.gz    (and _T1w, _T2w, _PD)
    OUT/derivatives/truth/sub-<label>/ses-01/anat/sub-<label>_ses-01_desc-lesions_mask.nii.gz   (0/1)
    OUT/derivatives/truth/sub-<label>/ses-01/anat/sub-<label>_ses-01_desc-lesionids_dseg.nii.gz (lesion ids)
    OUT/derivatives/truth/sub-<label>/truth.json   (per-lesion location, volumes, change classes; poses)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from lesionwatch import __version__
from lesionwatch.io.atomic import staged_directory, write_json_atomically
from lesionwatch.io.bids import BIDS_SUFFIXES
from lesionwatch.io.nifti import write_nifti
from lesionwatch.synth import FollowupConfig, SynthConfig, SyntheticCase, generate_case
from lesionwatch.workflows.preprocess import RunOptions, check_output_folder


def session_label(index: int) -> str:
    """BIDS session label of the time point `index` (0-based): "01", "02"..."""
    return f"{index + 1:02d}"


def write_synthetic_case(case: SyntheticCase, folder: Path, subject: str) -> dict[str, Path]:
    """Write `case` into `folder` (BIDS raw plus truth derivatives); return session label -> session folder."""
    write_json_atomically(folder / "dataset_description.json", {
        "Name": f"lesionwatch synthetic MS case (seed {case.seed})", "BIDSVersion": "1.9.0",
        "DatasetType": "raw", "GeneratedBy": [{"Name": "lesionwatch synth", "Version": __version__}],
    })
    truth_root = folder / "derivatives" / "truth"
    write_json_atomically(truth_root / "dataset_description.json", {
        "Name": "Exact lesion truth of the synthetic case", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "lesionwatch synth", "Version": __version__}],
    })
    sessions: dict[str, Path] = {}
    for t, tp in enumerate(case.timepoints):
        ses = session_label(t)
        anat = folder / f"sub-{subject}" / f"ses-{ses}" / "anat"
        prefix = f"sub-{subject}_ses-{ses}"
        for seq, image in tp.images.items():
            write_nifti(image, anat / f"{prefix}_{BIDS_SUFFIXES[seq]}.nii.gz")
        truth_anat = truth_root / f"sub-{subject}" / f"ses-{ses}" / "anat"
        write_nifti(tp.lesions.with_array((tp.lesions.array > 0).astype(np.uint8)),
                    truth_anat / f"{prefix}_desc-lesions_mask.nii.gz")
        write_nifti(tp.lesions.with_array(tp.lesions.array.astype(np.int16)),
                    truth_anat / f"{prefix}_desc-lesionids_dseg.nii.gz")
        sessions[ses] = anat.parent
    write_json_atomically(truth_root / f"sub-{subject}" / "truth.json", {
        "seed": case.seed,
        "sessions": [session_label(t) for t in range(len(case.timepoints))],
        "lesions": [dataclasses.asdict(lesion) for lesion in case.lesions],
        "head_to_scanner_ras": [tp.head_to_scanner.round(6).tolist() for tp in case.timepoints],
        "change_classes": "changes[i] describes the interval from session i+1 to session i+2",
    })
    return sessions


def run_synth(out_dir: Path, *, seed: int, timepoints: int, config: SynthConfig, followup: FollowupConfig,
              options: RunOptions, subject: str | None = None) -> Path:
    """Generate a synthetic case and write it as a BIDS dataset into `out_dir` (atomically)."""
    out_dir = Path(out_dir)
    check_output_folder(out_dir, options.force)
    case = generate_case(seed, config, timepoints=timepoints, followup=followup)
    with staged_directory(out_dir, overwrite=options.force) as stage:
        write_synthetic_case(case, stage, subject or f"synth{seed}")
    return out_dir
