"""The demo: lesionwatch on its embedded default case.

The default case is made from code, so nothing is downloaded: a synthetic two-session MS patient built on the
MNI152 anatomy that nilearn ships (seed 0, 1 mm, FLAIR + T1 with skull). The demo writes it as BIDS and runs the
main job on each session.
"""

from __future__ import annotations

from pathlib import Path

from lesionwatch.io.study import StudyInputs
from lesionwatch.preprocessing.pipeline import PreprocessingConfig
from lesionwatch.synth import FollowupConfig, SynthConfig
from lesionwatch.workflows.preprocess import RunOptions, check_output_folder, run_preprocess
from lesionwatch.workflows.synth import run_synth

DEMO_SEED = 0
DEMO_SUBJECT = "demo"


def run_demo(out_dir: Path, *, force: bool, progress: bool) -> str:
    """Write the embedded case under `out_dir/input` and process each session into `out_dir/ses-XX`.

    Returns:
        A short human-readable summary of where the results are.
    """
    out_dir = Path(out_dir)
    check_output_folder(out_dir, force)
    options = RunOptions(force=True, progress=progress)
    case_dir = run_synth(out_dir / "input", seed=DEMO_SEED, timepoints=2, config=SynthConfig(),
                         followup=FollowupConfig(), options=options, subject=DEMO_SUBJECT)
    lines = [f"embedded case (synthetic, seed {DEMO_SEED}): {case_dir}"]
    for session in sorted((case_dir / f"sub-{DEMO_SUBJECT}").glob("ses-*")):
        result = run_preprocess(StudyInputs.from_bids(session), out_dir / session.name, PreprocessingConfig(),
                                options)
        lines.append(f"{session.name}: brain mask {result / 'brain_mask_space-native.nii.gz'}, "
                     f"provenance {result / 'provenance.json'}")
    lines.append(f"truth: {case_dir / 'derivatives' / 'truth'}")
    return "\n".join(lines)
