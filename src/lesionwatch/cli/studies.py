"""Commands on one patient's studies: preprocess, segment, follow-up, report, evaluate; synthetic data and the
demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lesionwatch.cli.main import STATE
from lesionwatch.cli.options import (
    DEFAULT_BIAS_CORRECTION,
    DEFAULT_CHANGE,
    DEFAULT_GRID,
    DEFAULT_REGISTRATION,
    DEFAULT_SKULL_STRIPPING,
    BiasOpt,
    BidsOpt,
    BrainOpt,
    FlairOpt,
    IntermediatesOpt,
    OutOpt,
    PdOpt,
    RegOpt,
    ReportOpt,
    SeriesOpt,
    SpacingOpt,
    T1Opt,
    T2Opt,
    preprocessing_config,
    study_inputs,
)
from lesionwatch.errors import ConfigError
from lesionwatch.io.study import StudyInputs
from lesionwatch.longitudinal.change import ChangeConfig
from lesionwatch.synth import FollowupConfig, SynthConfig
from lesionwatch.workflows.layout import SUMMARY_NAME


def preprocess(
    out: OutOpt,
    flair: FlairOpt = None,
    t1: T1Opt = None,
    t2: T2Opt = None,
    pd: PdOpt = None,
    bids: BidsOpt = None,
    series: SeriesOpt = None,
    brain_extraction: BrainOpt = DEFAULT_SKULL_STRIPPING.mode,
    registration: RegOpt = DEFAULT_REGISTRATION.transform,
    bias_correction: BiasOpt = DEFAULT_BIAS_CORRECTION.enabled,
    spacing_mm: SpacingOpt = DEFAULT_GRID.spacing_mm,
    intermediates: IntermediatesOpt = False,
) -> None:
    """Preprocess one study: registration, brain mask, bias correction, normalisation."""
    from lesionwatch.workflows.preprocess import RunOptions, run_preprocess

    inputs = study_inputs(flair, t1, t2, pd, bids, series)
    config = preprocessing_config(brain_extraction, registration, bias_correction, spacing_mm)
    options = RunOptions(force=STATE.force, progress=STATE.progress, write_intermediates=intermediates)
    out_dir = run_preprocess(inputs, out, config, options)
    typer.echo(f"brain mask and provenance written to {out_dir}")


def segment(
    out: OutOpt,
    flair: FlairOpt = None,
    t1: T1Opt = None,
    t2: T2Opt = None,
    pd: PdOpt = None,
    bids: BidsOpt = None,
    series: SeriesOpt = None,
    model: Annotated[str, typer.Option("--model", help="Installed model name or model folder.")] = "default",
    method: Annotated[str, typer.Option("--method", help="model (trained network) or classical (baseline).")] = "model",
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=1.0, help="Sensitivity: probability cut-off (default: the model card's).")] = None,
    min_lesion_volume_mm3: Annotated[float | None, typer.Option(
        "--min-lesion-volume-mm3", min=0.0, help="Drop lesions smaller than this (default: the card's).")] = None,
    tta: Annotated[bool, typer.Option("--tta", help="Flip test-time augmentation (slower).")] = False,
    brain_extraction: BrainOpt = DEFAULT_SKULL_STRIPPING.mode,
    registration: RegOpt = DEFAULT_REGISTRATION.transform,
    bias_correction: BiasOpt = DEFAULT_BIAS_CORRECTION.enabled,
    intermediates: IntermediatesOpt = False,
    report: ReportOpt = True,
) -> None:
    """Segment MS lesions in one study; writes probability and mask in the native FLAIR grid."""
    from lesionwatch.workflows.layout import MASK_NAME
    from lesionwatch.workflows.preprocess import RunOptions
    from lesionwatch.workflows.segment import SegmentationConfig, run_segment

    inputs = study_inputs(flair, t1, t2, pd, bids, series)
    pre = preprocessing_config(brain_extraction, registration, bias_correction, DEFAULT_GRID.spacing_mm)
    seg = SegmentationConfig(method=method, model=model, threshold=threshold,
                             min_lesion_volume_mm3=min_lesion_volume_mm3, flip_tta=tta)
    options = RunOptions(force=STATE.force, progress=STATE.progress, write_intermediates=intermediates,
                         accept_implausible=STATE.force,
                         report=report)
    out_dir = run_segment(inputs, out, pre, seg, options)
    typer.echo(f"lesion mask: {out_dir / MASK_NAME}")


def followup(
    out: OutOpt,
    flair: Annotated[list[Path] | None, typer.Option(
        "--flair", help="FLAIR of each study, in time order (repeat: --flair A --flair B).")] = None,
    t1: Annotated[list[Path] | None, typer.Option(
        "--t1", help="T1 of each study, same order (give none, or one per study).")] = None,
    bids: Annotated[Path | None, typer.Option(
        "--bids", help="A BIDS subject folder: its sessions, in name order, are the studies.")] = None,
    label: Annotated[list[str] | None, typer.Option(
        "--label", help="Name of each study's output folder (default: session names or study1, study2...).")] = None,
    model: Annotated[str, typer.Option("--model", help="Installed model name or model folder.")] = "default",
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=1.0, help="Sensitivity: probability cut-off (default: the model card's).")] = None,
    min_lesion_volume_mm3: Annotated[float | None, typer.Option(
        "--min-lesion-volume-mm3", min=0.0, help="Drop lesions smaller than this (default: the card's).")] = None,
    method: Annotated[str, typer.Option("--method", help="model (trained network) or classical (baseline).")] = "model",
    change_sd: Annotated[float, typer.Option(
        "--change-sd", min=0.5, help="FLAIR change (robust SDs of the difference image) that allows a lesion "
                                     "to appear or disappear.")] = DEFAULT_CHANGE.change_sd,
    edge_mm: Annotated[float, typer.Option(
        "--edge-mm", min=0.0, help="No change is read within this distance (mm) of the brain mask's edge, where "
                                   "brain extraction and CSF partial volume differ between studies (0: off).")
    ] = DEFAULT_CHANGE.edge_mm,
    brain_extraction: BrainOpt = DEFAULT_SKULL_STRIPPING.mode,
    intermediates: IntermediatesOpt = False,
    report: ReportOpt = True,
) -> None:
    """Follow one patient over two or more studies: new, enlarging, shrinking and resolved lesions."""
    from lesionwatch.io.bids import list_bids_sessions
    from lesionwatch.workflows.followup import LongitudinalConfig, run_followup
    from lesionwatch.workflows.preprocess import RunOptions
    from lesionwatch.workflows.segment import SegmentationConfig

    if bids is not None:
        if flair:
            raise ConfigError("give either --bids SUBJECT or --flair for each study, not both")
        studies = [StudyInputs.from_bids(session) for session in list_bids_sessions(bids)]
    else:
        flairs, t1s = list(flair or []), list(t1 or [])
        if t1s and len(t1s) != len(flairs):
            raise ConfigError(f"{len(t1s)} --t1 for {len(flairs)} --flair: give one T1 per study, or none")
        studies = [StudyInputs(f, t1s[i] if t1s else None) for i, f in enumerate(flairs)]
    pre = preprocessing_config(brain_extraction, DEFAULT_REGISTRATION.transform, DEFAULT_BIAS_CORRECTION.enabled,
                               DEFAULT_GRID.spacing_mm)
    seg = SegmentationConfig(method=method, model=model, threshold=threshold,
                             min_lesion_volume_mm3=min_lesion_volume_mm3)
    config = LongitudinalConfig(change=ChangeConfig(change_sd=change_sd, edge_mm=edge_mm))
    options = RunOptions(force=STATE.force, progress=STATE.progress, write_intermediates=intermediates,
                         accept_implausible=STATE.force,
                         report=report)
    out_dir = run_followup(studies, out, pre, seg, config, options, labels=label)
    typer.echo(f"follow-up written to {out_dir} (summary: {out_dir / SUMMARY_NAME})")



def report(
    folder: Annotated[Path, typer.Argument(help="A segment or followup output folder.")],
) -> None:
    """Rebuild the figures and the HTML/PDF report of an existing output folder (the analysis is not changed)."""
    from lesionwatch.workflows.report import build_report

    typer.echo(f"report: {build_report(folder)}")


def synth(
    out: OutOpt,
    timepoints: Annotated[int, typer.Option("--timepoints", min=1, max=10, help="Number of sessions.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; fixes the whole case.")] = 0,
    spacing_mm: Annotated[float, typer.Option("--spacing-mm", help="Spacing of the anatomy (1 = full MNI).")] = 1.0,
    thick_slices: Annotated[bool, typer.Option("--thick-slices", help="2D FLAIR-like acquisition, 3-5 mm.")] = False,
    skull_stripped: Annotated[bool, typer.Option("--skull-stripped", help="Render the brain only.")] = False,
    shapes: Annotated[Path | None, typer.Option("--shapes", help="Folder of real single-lesion masks.")] = None,
    sequences: Annotated[str, typer.Option("--sequences", help="Comma-separated: flair,t1,t2,pd.")] = "flair,t1",
) -> None:
    """Write a synthetic MS case (BIDS layout) with its exact lesion truth."""
    from lesionwatch.workflows.preprocess import RunOptions
    from lesionwatch.workflows.synth import run_synth

    seqs = tuple(s.strip().lower() for s in sequences.split(",") if s.strip())
    if "flair" not in seqs or any(s not in ("flair", "t1", "t2", "pd") for s in seqs):
        raise ConfigError(f"--sequences {sequences!r}: expected a comma list of flair,t1,t2,pd including flair")
    config = SynthConfig(spacing_mm=spacing_mm, sequences=seqs, skull_stripped=skull_stripped,
                         slice_thickness_mm=(3.0, 5.0) if thick_slices else None, shapes=shapes)
    run_synth(out, seed=seed, timepoints=timepoints, config=config, followup=FollowupConfig(),
              options=RunOptions(force=STATE.force, progress=STATE.progress))
    typer.echo(f"synthetic case written to {out}")


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("lesionwatch-demo"),
) -> None:
    """Run lesionwatch on its embedded default case (a synthetic two-session MS patient)."""
    from lesionwatch.workflows.demo import run_demo

    summary = run_demo(out, force=STATE.force, progress=STATE.progress)
    typer.echo(summary)


def evaluate(
    pred: Annotated[Path, typer.Option("--pred", help="Predicted mask (NIfTI).")],
    truth: Annotated[Path, typer.Option("--truth", help="Truth mask (NIfTI).")],
    change: Annotated[bool, typer.Option("--change", help="Both masks are change masks (new/enlarging).")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the metrics as JSON here.")] = None,
) -> None:
    """Compare a predicted lesion (or change) mask with the truth: Dice, lesion-wise F1, HD95, by size."""
    from lesionwatch.workflows.evaluate import format_metrics, run_evaluate

    typer.echo(format_metrics(run_evaluate(pred, truth, change=change, json_out=json_out)))
