"""The demo: lesionwatch on its embedded default case.

The default case is made from code, so nothing is downloaded: a synthetic two-session MS patient built on the
MNI152 anatomy that nilearn ships (seed 0, 1 mm, FLAIR + T1 with skull). The demo writes it as BIDS, runs the
follow-up on the two sessions (which segments each with the shipped model, compares them and writes the report),
and scores the masks and the new-lesion detection against the case's exact truth.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from lesionwatch.io.bids import list_bids_sessions
from lesionwatch.io.nifti import read_labels
from lesionwatch.io.study import StudyInputs
from lesionwatch.lesions.metrics import evaluate_segmentation
from lesionwatch.longitudinal.change import NEW
from lesionwatch.preprocessing.pipeline import PreprocessingConfig
from lesionwatch.synth import FollowupConfig, SynthConfig
from lesionwatch.workflows.followup import LongitudinalConfig, run_followup
from lesionwatch.workflows.layout import CHANGE_MAP_NAME, CHANGE_TABLE_NAME, MASK_NAME
from lesionwatch.workflows.preprocess import RunOptions, check_output_folder
from lesionwatch.workflows.segment import SegmentationConfig
from lesionwatch.workflows.synth import run_synth

DEMO_SEED = 0
DEMO_SUBJECT = "demo"


def run_demo(out_dir: Path, *, force: bool, progress: bool) -> str:
    """Write the embedded case under `out_dir/input` and follow it up into `out_dir/followup`.

    Returns:
        A short human-readable summary of where the results are and how they score against the truth.
    """
    out_dir = Path(out_dir)
    check_output_folder(out_dir, force)
    options = RunOptions(force=True, progress=progress)
    case_dir = run_synth(out_dir / "input", seed=DEMO_SEED, timepoints=2, config=SynthConfig(),
                         followup=FollowupConfig(), options=options, subject=DEMO_SUBJECT)
    sessions = list_bids_sessions(case_dir / f"sub-{DEMO_SUBJECT}")
    result = run_followup([StudyInputs.from_bids(s) for s in sessions], out_dir / "followup", PreprocessingConfig(),
                          SegmentationConfig(), LongitudinalConfig(), options)
    lines = [f"embedded case (synthetic, seed {DEMO_SEED}): {case_dir}"]
    truth_root = case_dir / "derivatives" / "truth" / f"sub-{DEMO_SUBJECT}"
    truth = json.loads((truth_root / "truth.json").read_text())
    for t, session in enumerate(sessions):
        prefix = f"sub-{DEMO_SUBJECT}_{session.name}"
        truth_mask = read_labels(truth_root / session.name / "anat" / f"{prefix}_desc-lesions_mask.nii.gz")
        m = evaluate_segmentation(read_labels(result / session.name / MASK_NAME), truth_mask)
        lines.append(f"{session.name}: lesion mask {result / session.name / MASK_NAME}\n"
                     f"         {m.predicted_lesions} lesions found, {m.truth_lesions} in the truth; "
                     f"Dice {m.dice:.2f}, lesion F1 {m.lesion_f1:.2f}")
        if t == 0:
            continue
        ids = read_labels(truth_root / session.name / "anat" / f"{prefix}_desc-lesionids_dseg.nii.gz")
        change = read_labels(result / session.name / CHANGE_MAP_NAME)
        new = [lesion for lesion in truth["lesions"] if lesion["changes"][t - 1] == "new"]
        found = sum(1 for lesion in new if np.mean(change.array[ids.array == lesion["id"]] == NEW) > 0.5)
        with (result / f"{CHANGE_TABLE_NAME}.csv").open() as f:
            column = f"change_{sessions[t - 1].name}_to_{session.name}"
            predicted = sum(1 for row in csv.DictReader(f) if row[column] == "new")
        lines.append(f"{sessions[t - 1].name} -> {session.name}: {predicted} new lesions reported; "
                     f"{found} of the {len(new)} truly new lesions are marked new")
    lines.append(f"report: {result / 'report.html'}  (also report.pdf and figures/)")
    lines.append(f"truth: {truth_root}")
    return "\n".join(lines)
