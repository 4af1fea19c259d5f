"""The preprocess workflow: read a study, preprocess it, write the brain mask, intermediates and provenance."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lesionwatch.errors import OutputExistsError
from lesionwatch.io.atomic import staged_directory, write_json_atomically
from lesionwatch.io.nifti import write_nifti
from lesionwatch.io.study import StudyInputs, load_study
from lesionwatch.logging import add_file_log
from lesionwatch.preprocessing.pipeline import STAGES, PreprocessedStudy, PreprocessingConfig, preprocess
from lesionwatch.workflows.layout import (
    BRAIN_MASK_NAME,
    FLAIR_NAME,
    LOG_NAME,
    PROVENANCE_NAME,
    WORKING_BRAIN_MASK_NAME,
    registered_name,
    working_name,
)
from lesionwatch.workflows.progress import StageCallback, stage_progress
from lesionwatch.workflows.provenance import build_provenance, config_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """Options shared by every workflow that writes an output folder.

    Attributes:
        force: replace an existing output folder (only once the new results are complete).
        progress: show a progress bar.
        write_intermediates: also write the working-grid images.
        report: write figures and the HTML/PDF report after the analysis (segment and follow-up).
        on_stage: also called as each stage starts (stage name, fraction done), e.g. by the web server.
        accept_implausible: analyse an input that cannot be what it claims (a FLAIR with another contrast, a
            follow-up of two heads) and record why as a QC warning, instead of refusing it (the CLI's --force).
        hide_paths_under: a folder whose path never reaches the output (the web server's job folder): provenance
            and the log file name inputs relative to it, and provenance leaves the command line out.
    """

    force: bool = False
    progress: bool = True
    write_intermediates: bool = False
    report: bool = True
    on_stage: StageCallback | None = field(default=None, compare=False, repr=False)
    accept_implausible: bool = False
    hide_paths_under: Path | None = None


def check_output_folder(out_dir: Path, force: bool) -> None:
    """Refuse an existing, non-empty output folder unless `force`.

    Raises:
        OutputExistsError: the folder exists and holds files, is a file, or cannot be created (a file or an
            unwritable folder on its path).
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"{out_dir}: is a file, not a folder. Choose another --out.")
    if not out_dir.exists():  # the nearest folder on its path must be a writable folder
        ancestor = next((p for p in Path(out_dir).absolute().parents if p.exists()), None)
        if ancestor is not None and not ancestor.is_dir():
            raise OutputExistsError(f"{out_dir}: cannot be created, {ancestor} is a file, not a folder. Choose "
                                    "another --out.")
        if ancestor is not None and not os.access(ancestor, os.W_OK | os.X_OK):
            raise OutputExistsError(f"{out_dir}: cannot be created, {ancestor} is not writable. Choose another "
                                    "--out.")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise OutputExistsError(
            f"{out_dir}: output folder already exists. Choose another --out, or pass --force to replace it "
            "(the old results are kept until the new ones are complete)."
        )


@contextlib.contextmanager
def output_folder(out_dir: Path, options: RunOptions) -> Iterator[Path]:
    """Stage a new output folder with its log file; it replaces `out_dir` only if the block succeeds.

    Raises:
        OutputExistsError: `out_dir` exists and `options.force` is False (checked before anything is written).
    """
    check_output_folder(out_dir, options.force)
    with staged_directory(out_dir, overwrite=options.force) as stage:
        handler = add_file_log(stage / LOG_NAME, options.hide_paths_under)
        try:
            yield stage
        finally:
            logging.getLogger("lesionwatch").removeHandler(handler)
            handler.close()


NATIVE = "native FLAIR grid (FLAIR header)"


def write_preprocessed(pre: PreprocessedStudy, folder: Path, *, intermediates: bool) -> dict[str, str]:
    """Write the brain mask, the bias-corrected FLAIR and the registered sequences on the native FLAIR grid (what
    reports and viewers show), and optionally the working-grid images, into `folder`; return file name -> space."""
    outputs: dict[str, str] = {}
    write_nifti(pre.native_brain_mask, folder / BRAIN_MASK_NAME)
    outputs[BRAIN_MASK_NAME] = NATIVE
    write_nifti(pre.native_bias_corrected_flair, folder / FLAIR_NAME)
    outputs[FLAIR_NAME] = NATIVE
    for name in pre.channels:
        if name != "flair":
            write_nifti(pre.native_channel(name), folder / registered_name(name))
            outputs[registered_name(name)] = NATIVE + ", normalised"
    if intermediates:
        write_nifti(pre.brain_mask, folder / WORKING_BRAIN_MASK_NAME)
        outputs[WORKING_BRAIN_MASK_NAME] = "working grid (1 mm RAS+)"
        for name, image in pre.channels.items():
            fname = working_name(name)
            write_nifti(image, folder / fname)
            outputs[fname] = "working grid (1 mm RAS+)"
    return outputs


def preprocessing_qc(pre: PreprocessedStudy) -> dict[str, object]:
    """Quality figures kept in provenance: brain volume and registration similarity."""
    return {
        "brain_mask_method": pre.brain_mask_method,
        "brain_volume_ml": round(pre.native_brain_mask.volume_mm3 / 1000.0, 1),
        "registration": {
            name: {
                "mattes_mutual_information": round(r.mutual_information, 4),
                "normalized_mutual_information": round(r.normalized_mutual_information, 4),
                "normalized_mutual_information_before": round(r.initial_normalized_mutual_information, 4),
                "alignment_sharpness": round(r.sharpness, 4),
                "flair_to_sequence_ras": r.flair_to_sequence.round(6).tolist(),
            }
            for name, r in pre.registrations.items()
        },
    }


def run_preprocess(inputs: StudyInputs, out_dir: Path, config: PreprocessingConfig, options: RunOptions) -> Path:
    """Preprocess one study and write its output folder atomically.

    Returns:
        The output folder.

    Raises:
        OutputExistsError: `out_dir` exists and `options.force` is False.
        LesionwatchError subclasses: bad input (nothing is written then).
    """
    out_dir = Path(out_dir)
    with output_folder(out_dir, options) as stage:
        with stage_progress("preprocess", len(STAGES) + 2, options.progress) as bar:
            bar.stage("read")
            study = load_study(inputs)
            pre = preprocess(study, config, on_stage=bar.stage)
            bar.stage("write")
            outputs = write_preprocessed(pre, stage, intermediates=options.write_intermediates)
        provenance = build_provenance(
            command="preprocess", inputs=inputs.paths(), config=config_dict(config),
            timings_s=pre.timings_s, outputs=outputs, extra={"qc": preprocessing_qc(pre)},
            hide_paths_under=options.hide_paths_under,
        )
        write_json_atomically(stage / PROVENANCE_NAME, provenance)
    log.info("results in %s", out_dir)
    return out_dir
