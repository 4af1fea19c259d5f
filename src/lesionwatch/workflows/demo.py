"""The demo: lesionwatch on its embedded default case.

The default case is made from code, so nothing is downloaded: a synthetic two-session MS patient built on the
MNI152 anatomy that nilearn ships (seed 0, 1 mm, FLAIR + T1 with skull). The demo writes it as BIDS, segments
each session with the shipped model, and scores the masks against the case's exact truth.
"""

from __future__ import annotations

from pathlib import Path

from lesionwatch.io.nifti import read_labels
from lesionwatch.io.study import StudyInputs
from lesionwatch.lesions.metrics import evaluate_segmentation
from lesionwatch.preprocessing.pipeline import PreprocessingConfig
from lesionwatch.synth import FollowupConfig, SynthConfig
from lesionwatch.workflows.preprocess import RunOptions, check_output_folder
from lesionwatch.workflows.segment import MASK_NAME, SegmentationConfig, run_segment
from lesionwatch.workflows.synth import run_synth

DEMO_SEED = 0
DEMO_SUBJECT = "demo"


def run_demo(out_dir: Path, *, force: bool, progress: bool) -> str:
    """Write the embedded case under `out_dir/input` and segment each session into `out_dir/ses-XX`.

    Returns:
        A short human-readable summary of where the results are and how they score against the truth.
    """
    out_dir = Path(out_dir)
    check_output_folder(out_dir, force)
    options = RunOptions(force=True, progress=progress)
    case_dir = run_synth(out_dir / "input", seed=DEMO_SEED, timepoints=2, config=SynthConfig(),
                         followup=FollowupConfig(), options=options, subject=DEMO_SUBJECT)
    lines = [f"embedded case (synthetic, seed {DEMO_SEED}): {case_dir}"]
    truth_root = case_dir / "derivatives" / "truth" / f"sub-{DEMO_SUBJECT}"
    for session in sorted((case_dir / f"sub-{DEMO_SUBJECT}").glob("ses-*")):
        result = run_segment(StudyInputs.from_bids(session), out_dir / session.name, PreprocessingConfig(),
                             SegmentationConfig(), options)
        truth = truth_root / session.name / "anat" / f"sub-{DEMO_SUBJECT}_{session.name}_desc-lesions_mask.nii.gz"
        m = evaluate_segmentation(read_labels(result / MASK_NAME), read_labels(truth))
        lines.append(f"{session.name}: lesion mask {result / MASK_NAME}\n"
                     f"         {m.predicted_lesions} lesions found, {m.truth_lesions} in the truth; "
                     f"Dice {m.dice:.2f}, "
                     f"lesion F1 {m.lesion_f1:.2f}; provenance {result / 'provenance.json'}")
    lines.append(f"truth: {truth_root}")
    return "\n".join(lines)
