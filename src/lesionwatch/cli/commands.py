"""The commands of `lesionwatch`. Each parses its options into configs and calls one workflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lesionwatch.cli.main import STATE
from lesionwatch.errors import ConfigError, MissingDependencyError, OutputExistsError
from lesionwatch.io.study import StudyInputs
from lesionwatch.longitudinal.change import ChangeConfig
from lesionwatch.preprocessing.bias_correction import BiasCorrectionConfig
from lesionwatch.preprocessing.pipeline import PreprocessingConfig
from lesionwatch.preprocessing.registration import RegistrationConfig
from lesionwatch.preprocessing.resampling import WorkingGridConfig
from lesionwatch.preprocessing.skull_stripping import SkullStrippingConfig
from lesionwatch.synth import FollowupConfig, SynthConfig
from lesionwatch.training.augmentation import AugmentationConfig
from lesionwatch.training.config import TrainingConfig
from lesionwatch.training.data import LabelledCase
from lesionwatch.workflows.layout import SUMMARY_NAME

# the defaults of every option below are read from these, the configs' own defaults
_D_REG = RegistrationConfig()
_D_GRID = WorkingGridConfig()
_D_SKULL = SkullStrippingConfig()
_D_BIAS = BiasCorrectionConfig()
_D_CHANGE = ChangeConfig()
_D_TRAIN = TrainingConfig()
_D_AUG = _D_TRAIN.augmentation
_D_FEATURES = ",".join(str(f) for f in _D_TRAIN.features)
_D_THICK_SLICE_MM = ",".join(f"{mm:g}" for mm in _D_AUG.thick_slice_mm)

FlairOpt = Annotated[Path | None, typer.Option("--flair", help="FLAIR: NIfTI file or DICOM folder (required).")]
T1Opt = Annotated[Path | None, typer.Option("--t1", help="T1-weighted: NIfTI file or DICOM folder.")]
T2Opt = Annotated[Path | None, typer.Option("--t2", help="T2-weighted: NIfTI file or DICOM folder.")]
PdOpt = Annotated[Path | None, typer.Option("--pd", help="Proton density: NIfTI file or DICOM folder.")]
BidsOpt = Annotated[Path | None, typer.Option("--bids", help="A BIDS session folder (sub-*/ses-*) instead.")]
SeriesOpt = Annotated[list[str] | None, typer.Option(
    "--series", help="Pick a DICOM series: SEQUENCE=SELECTOR (UID, number or part of the description), "
                     "e.g. --series flair=AX_FLAIR. Repeatable.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder (refused if it exists, unless --force).")]


def study_inputs(flair: Path | None, t1: Path | None, t2: Path | None, pd: Path | None, bids: Path | None,
                 series: list[str] | None) -> StudyInputs:
    """Build StudyInputs from the command-line options."""
    chosen: dict[str, str] = {}
    for item in series or []:
        name, sep, selector = item.partition("=")
        if not sep or name.lower() not in ("flair", "t1", "t2", "pd"):
            raise ConfigError(f"--series {item!r}: expected SEQUENCE=SELECTOR with SEQUENCE one of flair, t1, t2, pd")
        chosen[name.lower()] = selector
    if bids is not None:
        if flair is not None:
            raise ConfigError("give either --bids or --flair, not both")
        base = StudyInputs.from_bids(bids)
        return StudyInputs(base.flair, t1 or base.t1, t2 or base.t2, pd or base.pd, chosen)
    if flair is None:
        raise ConfigError("a FLAIR is required: pass --flair FILE_OR_DICOM_FOLDER (or --bids SESSION_FOLDER)")
    return StudyInputs(flair, t1, t2, pd, chosen)


def preprocessing_config(brain_extraction: str, registration: str, bias_correction: bool,
                         spacing_mm: float) -> PreprocessingConfig:
    """Build the preprocessing config from the command-line options."""
    if brain_extraction not in ("auto", "deepbet", "skull-stripped"):
        raise ConfigError(f"--brain-extraction {brain_extraction!r}: expected auto, deepbet or skull-stripped")
    if registration not in ("rigid", "affine"):
        raise ConfigError(f"--registration {registration!r}: expected rigid or affine")
    if not 0.5 <= spacing_mm <= 3.0:
        raise ConfigError(f"--spacing-mm {spacing_mm}: expected a value between 0.5 and 3.0 mm")
    return PreprocessingConfig(
        registration=RegistrationConfig(transform=registration),  # type: ignore[arg-type]
        skull_stripping=SkullStrippingConfig(mode=brain_extraction),  # type: ignore[arg-type]
        bias_correction=BiasCorrectionConfig(enabled=bias_correction),
        working_grid=WorkingGridConfig(spacing_mm=spacing_mm),
    )


BrainOpt = Annotated[str, typer.Option(
    "--brain-extraction", help="auto (detect skull-stripped input, else deepbet), deepbet, or skull-stripped.")]
RegOpt = Annotated[str, typer.Option("--registration", help="rigid or affine registration of T1/T2/PD to FLAIR.")]
BiasOpt = Annotated[bool, typer.Option("--bias-correction/--no-bias-correction", help="N4 bias correction.")]
SpacingOpt = Annotated[float, typer.Option("--spacing-mm", help="Isotropic spacing of the working grid (mm).")]
IntermediatesOpt = Annotated[bool, typer.Option("--intermediates", help="Also write working-grid images.")]
ReportOpt = Annotated[bool, typer.Option("--report/--no-report", help="Write figures and the HTML/PDF report.")]


def preprocess(
    out: OutOpt,
    flair: FlairOpt = None,
    t1: T1Opt = None,
    t2: T2Opt = None,
    pd: PdOpt = None,
    bids: BidsOpt = None,
    series: SeriesOpt = None,
    brain_extraction: BrainOpt = _D_SKULL.mode,
    registration: RegOpt = _D_REG.transform,
    bias_correction: BiasOpt = _D_BIAS.enabled,
    spacing_mm: SpacingOpt = _D_GRID.spacing_mm,
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
    brain_extraction: BrainOpt = _D_SKULL.mode,
    registration: RegOpt = _D_REG.transform,
    bias_correction: BiasOpt = _D_BIAS.enabled,
    intermediates: IntermediatesOpt = False,
    report: ReportOpt = True,
) -> None:
    """Segment MS lesions in one study; writes probability and mask in the native FLAIR grid."""
    from lesionwatch.workflows.layout import MASK_NAME
    from lesionwatch.workflows.preprocess import RunOptions
    from lesionwatch.workflows.segment import SegmentationConfig, run_segment

    inputs = study_inputs(flair, t1, t2, pd, bids, series)
    pre = preprocessing_config(brain_extraction, registration, bias_correction, _D_GRID.spacing_mm)
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
                                     "to appear or disappear.")] = _D_CHANGE.change_sd,
    edge_mm: Annotated[float, typer.Option(
        "--edge-mm", min=0.0, help="No change is read within this distance (mm) of the brain mask's edge, where "
                                   "brain extraction and CSF partial volume differ between studies (0: off).")
    ] = _D_CHANGE.edge_mm,
    brain_extraction: BrainOpt = _D_SKULL.mode,
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
    pre = preprocessing_config(brain_extraction, _D_REG.transform, _D_BIAS.enabled, _D_GRID.spacing_mm)
    seg = SegmentationConfig(method=method, model=model, threshold=threshold,
                             min_lesion_volume_mm3=min_lesion_volume_mm3)
    config = LongitudinalConfig(change=ChangeConfig(change_sd=change_sd, edge_mm=edge_mm))
    options = RunOptions(force=STATE.force, progress=STATE.progress, write_intermediates=intermediates,
                         accept_implausible=STATE.force,
                         report=report)
    out_dir = run_followup(studies, out, pre, seg, config, options, labels=label)
    typer.echo(f"follow-up written to {out_dir} (summary: {out_dir / SUMMARY_NAME})")


def bids(
    bids_dir: Annotated[Path, typer.Argument(help="Root of the BIDS dataset.")],
    out_dir: Annotated[Path, typer.Argument(help="Output derivatives folder (e.g. BIDS_DIR/derivatives/lesionwatch).")],
    level: Annotated[str, typer.Argument(help="participant (segment / follow up every session) or group (tables).")],
    participant_label: Annotated[list[str] | None, typer.Option(
        "--participant-label", help="Only these subjects (labels with or without 'sub-'). Repeatable.")] = None,
    session_label: Annotated[list[str] | None, typer.Option(
        "--session-label", help="Only these sessions. Repeatable.")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Local worker processes (default: one per 2 cores, memory permitting).")] = None,
    dask_scheduler: Annotated[str | None, typer.Option(
        "--dask-scheduler", help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786.")] = None,
    model: Annotated[str, typer.Option("--model", help="Installed model name or model folder.")] = "default",
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=1.0, help="Sensitivity: probability cut-off (default: the model card's).")] = None,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Also write each task's report.")] = False,
) -> None:
    """BIDS App: `participant` runs every session (resumable), `group` writes the cohort tables."""
    from lesionwatch.workflows.cohort import CohortConfig, run_group, run_participants
    from lesionwatch.workflows.progress import stage_progress
    from lesionwatch.workflows.segment import SegmentationConfig

    if level == "group":
        written = run_group(out_dir)
        typer.echo("cohort tables: " + ", ".join(str(p) for p in written.values()))
        return
    if level != "participant":
        raise ConfigError(f"analysis level {level!r}: expected participant or group")
    config = CohortConfig(segmentation=SegmentationConfig(model=model, threshold=threshold), report=report)
    from lesionwatch.workflows.cohort import find_tasks

    total = len(find_tasks(bids_dir, participant_label or (), session_label or ()))
    with stage_progress("cohort", total, STATE.progress) as bar:
        records = run_participants(bids_dir, out_dir, config, participant_labels=participant_label or (),
                                   session_labels=session_label or (), workers=workers, scheduler=dask_scheduler,
                                   on_done=lambda r: bar.finished(f"{r['task']} {r['status']}"))
    counts = {s: sum(1 for r in records if r["status"] == s) for s in ("done", "skipped", "failed")}
    typer.echo(f"{counts['done']} done, {counts['skipped']} already done, {counts['failed']} failed; "
               f"results in {out_dir}")
    for r in records:
        if r["status"] == "failed":
            typer.echo(f"  failed: {r['task']}: {r.get('error', '')}", err=True)
        for session, error in r.get("failed_sessions", {}).items():
            typer.echo(f"  failed: {r['task']} ses-{session} (left out of its follow-up): {error}", err=True)
    if counts["failed"] or any(r.get("failed_sessions") for r in records):
        raise typer.Exit(1)


MIN_TOKEN_CHARS = 22
"""URL-safe base64 characters (6 bits each) of a 128-bit token."""


def serve(
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8765,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where jobs and their results are kept.")] = Path(
        "lesionwatch-web"),
    token: Annotated[str | None, typer.Option(
        "--token", help="Access token (required off loopback: at least 22 URL-safe characters, generated if not "
        "given; LESIONWATCH_TOKEN keeps it out of the process list).")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=16, help="Jobs run at the same time.")] = 1,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", min=1, help="Largest uploaded file.")] = 512,
) -> None:
    """Start the web application (upload, progress, 2D/3D viewer, follow-up comparison)."""
    import secrets

    try:
        import uvicorn

        from lesionwatch.web.app import LOOPBACK_HOSTS, create_app
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("lesionwatch"):
            raise
        raise MissingDependencyError.for_extra("web", "lesionwatch serve") from exc
    from lesionwatch.paths import web_token
    from lesionwatch.web.uploads import UploadLimits

    loopback = host in ("127.0.0.1", "localhost", "::1")
    token = web_token() if token is None else token
    if not loopback and token is None:
        token = secrets.token_urlsafe(24)
    if not loopback and token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"--token of {len(token)} characters on {host}: off this machine the token must carry at "
                          f"least 128 bits ({MIN_TOKEN_CHARS} URL-safe characters); omit it to have one generated")
    app = create_app(data_dir, token=token, workers=workers,
                     limits=UploadLimits(max_file_bytes=max_upload_mb * 2 ** 20),
                     allowed_hosts=LOOPBACK_HOSTS if loopback else None)
    shown = "localhost" if loopback else host
    typer.echo(f"lesionwatch web on http://{shown}:{port}/" + (f"?token={token}" if token else ""))
    uvicorn.run(app, host=host, port=port, log_level="warning")


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


def _tags(value: str) -> tuple[str, ...]:
    return tuple(t.strip().lower() for t in value.split(",") if t.strip())


def _find_cases(data: list[Path], flair_tag: str, t1_tag: str, mask_tag: str, excluded: list[str]
                ) -> list[LabelledCase]:
    """Labelled cases under every data folder, less the excluded patients (by full or short name)."""
    from lesionwatch.errors import InputFileNotFoundError
    from lesionwatch.training.data import find_bids_cases, find_tagged_cases

    cases: list[LabelledCase] = []
    for root in data:
        if not root.is_dir():
            raise InputFileNotFoundError(f"{root}: training data folder not found.")
        if (root / "dataset_description.json").is_file() or list(root.glob("sub-*")):
            cases += find_bids_cases(root)
        else:
            cases += find_tagged_cases(root, flair_tags=_tags(flair_tag), t1_tags=_tags(t1_tag),
                                       mask_tags=_tags(mask_tag))
    return [c for c in cases if c.patient not in excluded and c.patient.split("/")[-1] not in excluded]


DataArg = Annotated[list[Path], typer.Argument(help="BIDS dataset(s) or folder(s) of subjects with tagged files.")]
FlairTag = Annotated[str, typer.Option("--flair-tag", help="Comma list of FLAIR file tags.")]
T1Tag = Annotated[str, typer.Option("--t1-tag", help="Comma list of T1 file tags.")]
MaskTag = Annotated[str, typer.Option("--mask-tag", help="Comma list of lesion-mask file tags.")]
ValOpt = Annotated[list[str] | None, typer.Option(
    "--val-patients", help="Patients kept for validation (early stopping, threshold choice).")]
ValFracOpt = Annotated[float, typer.Option(
    "--val-fraction", min=0.0, max=0.9, help="Share of patients drawn for validation when --val-patients is not "
    "given; 0 trains on every patient for the whole budget and keeps the last weights.")]
ExclOpt = Annotated[list[str] | None, typer.Option("--exclude-patients", help="Patients left out entirely (test).")]
CacheOpt = Annotated[Path | None, typer.Option("--cache", help="Folder caching preprocessed cases.")]
MasksOpt = Annotated[list[Path] | None, typer.Option(
    "--lesion-masks", help="Lesion masks of other patients (files or folders, same world space as the training "
    "images, no images needed), transplanted into the training brains as augmentation.")]


def _range(option: str, text: str) -> tuple[float, float]:
    """`LO,HI` as two positive floats with LO <= HI, or a ConfigError naming the option."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise ConfigError(f"{option} {text!r}: expected two comma-separated numbers LO,HI such as 1.1,2") from exc
    if not 0 < lo <= hi:
        raise ConfigError(f"{option} {text!r}: expected 0 < LO <= HI")
    return lo, hi


def train(
    data: DataArg,
    out: OutOpt,
    flair_tag: FlairTag = "flair",
    t1_tag: T1Tag = "t1",
    mask_tag: MaskTag = "mask",
    val_patients: ValOpt = None,
    exclude_patients: ExclOpt = None,
    iterations: Annotated[int, typer.Option("--iterations", min=1)] = _D_TRAIN.iterations,
    max_minutes: Annotated[float, typer.Option("--max-minutes", help="Wall-clock budget.")] = _D_TRAIN.max_minutes,
    seed: Annotated[int, typer.Option("--seed")] = _D_TRAIN.seed,
    name: Annotated[str, typer.Option("--name", help="Model name for its card.")] = "lesionwatch-unet",
    features: Annotated[str, typer.Option("--features", help="U-Net feature counts per level.")] = _D_FEATURES,
    cache: CacheOpt = None,
    lesion_masks: MasksOpt = None,
    val_fraction: ValFracOpt = 0.2,
    per_lesion_fraction: Annotated[float, typer.Option(
        "--per-lesion-fraction", min=0.0, max=1.0, help="Share of lesion-centred patches that pick a lesion "
        "uniformly (small ones as often as large) rather than a lesion voxel.")] = _D_AUG.per_lesion_fraction,
    blob_weight: Annotated[float, typer.Option(
        "--blob-weight", min=0.0, help="Weight of the per-lesion Dice term (blob loss) added to Dice + BCE.")
    ] = _D_TRAIN.blob_weight,
    learning_rate: Annotated[float, typer.Option(
        "--learning-rate", min=0.0, help="Initial Adam learning rate (cosine decay to 5% of it).")
    ] = _D_TRAIN.learning_rate,
    drop_t1: Annotated[float, typer.Option(
        "--drop-t1", min=0.0, max=1.0, help="Share of patches whose T1 is dropped (zeros, as for a study without "
        "a T1), so the model also segments from the FLAIR alone.")] = _D_AUG.p_drop_t1,
    thick_slices: Annotated[float, typer.Option(
        "--thick-slices", min=0.0, max=1.0, help="Share of patches (per sequence) blurred and resampled as thick "
        "slices (3-5 mm along a random axis), as 2D clinical scans are.")] = _D_AUG.p_thick_slices,
    thick_slice_mm: Annotated[str, typer.Option(
        "--thick-slice-mm", help="Slice thickness range (LO,HI mm) of the simulated thick-slice acquisitions.")
    ] = _D_THICK_SLICE_MM,
    lesion_contrast: Annotated[str | None, typer.Option(
        "--lesion-contrast", help="Transplanted and pasted lesions take the FLAIR of the tissue under them times a "
        "ratio in LO,HI (e.g. 1.1,2: faint to very bright) and a T1 from isointense to black hole, instead of the "
        "training lesions' own intensities.")] = None,
    confluent: Annotated[float, typer.Option(
        "--confluent", min=0.0, max=1.0, help="Share of patches given a synthetic confluent periventricular lesion "
        "band (heavy lesion load).")] = _D_AUG.p_confluent,
    patch_size: Annotated[int, typer.Option(
        "--patch-size", min=16, help="Edge of the cubic training patches, in working-grid voxels (1 mm).")
    ] = _D_AUG.patch_size[0],
    continue_from: Annotated[str | None, typer.Option(
        "--continue-from", help="Start from this model's weights (name or folder) instead of a random "
        "initialisation: a further training stage with a fresh schedule; its architecture wins over --features.")
    ] = None,
) -> None:
    """Train a lesion segmentation model; rerun the same command to resume after an interruption."""
    from lesionwatch.models.card import resolve_model_dir
    from lesionwatch.workflows.train import run_train

    cases = _find_cases(data, flair_tag, t1_tag, mask_tag, exclude_patients or [])
    try:
        feats = tuple(int(f) for f in features.split(","))
    except ValueError as exc:
        raise ConfigError(f"--features {features!r}: expected comma-separated integers such as 12,24,48,96") from exc
    config = TrainingConfig(iterations=iterations, max_minutes=max_minutes, seed=seed, features=feats,
                            blob_weight=blob_weight, learning_rate=learning_rate,
                            augmentation=AugmentationConfig(per_lesion_fraction=per_lesion_fraction,
                                                            p_drop_t1=drop_t1, p_thick_slices=thick_slices,
                                                            thick_slice_mm=_range("--thick-slice-mm", thick_slice_mm),
                                                            lesion_contrast=None if lesion_contrast is None else
                                                            _range("--lesion-contrast", lesion_contrast),
                                                            p_confluent=confluent,
                                                            patch_size=(patch_size, patch_size, patch_size)))
    init = resolve_model_dir(continue_from) if continue_from is not None else None
    run_train(cases, out, config, name=name, validation_patients=tuple(val_patients or ()), cache_dir=cache,
              init_model=init,
              force=STATE.force, progress=STATE.progress, data_description=", ".join(str(d) for d in data),
              lesion_masks=tuple(lesion_masks or ()), validation_fraction=val_fraction)
    typer.echo(f"model written to {out}")


def finetune(
    data: DataArg,
    out: OutOpt,
    from_model: Annotated[str, typer.Option("--from", help="Model to start from (name or folder).")] = "default",
    flair_tag: FlairTag = "flair",
    t1_tag: T1Tag = "t1",
    mask_tag: MaskTag = "mask",
    val_patients: ValOpt = None,
    val_fraction: ValFracOpt = 0.2,
    exclude_patients: ExclOpt = None,
    iterations: Annotated[int, typer.Option("--iterations", min=1)] = 400,
    max_minutes: Annotated[float, typer.Option("--max-minutes")] = 25.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    cache: CacheOpt = None,
    lesion_masks: MasksOpt = None,
    learning_rate: Annotated[float, typer.Option("--learning-rate", min=0.0, help="Adam learning rate.")] = 3e-4,
    anchor_weight: Annotated[float, typer.Option(
        "--anchor-weight", min=0.0, help="L2-SP pull towards the starting model's weights (0: none); keeps a "
        "few scans from dragging the model to their own lesion load.")] = 0.0,
) -> None:
    """Adapt a trained model to a site's own labelled scans (one to a few), in minutes on a CPU."""
    from lesionwatch.models.card import resolve_model_dir
    from lesionwatch.workflows.train import run_train

    cases = _find_cases(data, flair_tag, t1_tag, mask_tag, exclude_patients or [])
    base = resolve_model_dir(from_model)
    config = TrainingConfig(iterations=iterations, max_minutes=max_minutes, seed=seed, learning_rate=learning_rate,
                            validate_every=50, patience=4, anchor_weight=anchor_weight)
    run_train(cases, out, config, name=f"{base.name}-finetuned", validation_patients=tuple(val_patients or ()),
              init_model=base, cache_dir=cache, force=STATE.force, progress=STATE.progress,
              data_description=", ".join(str(d) for d in data), lesion_masks=tuple(lesion_masks or ()),
              validation_fraction=val_fraction)
    typer.echo(f"fine-tuned model written to {out}")


models_app = typer.Typer(help="List and inspect installed models.", no_args_is_help=True)


@models_app.command("list")
def models_list() -> None:
    """List the models installed with lesionwatch."""
    from lesionwatch.models.card import list_installed_models, read_card, validation_summary

    folders = list_installed_models()
    if not folders:
        typer.echo("no models installed")
    for folder in folders:
        card = read_card(folder)
        typer.echo(f"{folder.name:<12} {card.name} {card.version}  inputs {','.join(card.inputs)}  "
                   f"threshold {card.threshold:g}  min {card.min_lesion_volume_mm3:g} mm3  {validation_summary(card)}")


@models_app.command("show")
def models_show(name: Annotated[str, typer.Argument(help="Installed model name or model folder.")] = "default",
                as_json: Annotated[bool, typer.Option("--json", help="The whole card as JSON.")] = False,
                ) -> None:
    """Print a model's card: what it is, what it was trained on, and its validation table (--json: all of it)."""
    import json

    from lesionwatch.models.card import describe_card, read_card, resolve_model_dir

    folder = resolve_model_dir(name)
    card = read_card(folder)
    typer.echo(json.dumps(card.as_dict(), indent=2) if as_json else f"# {folder}\n{describe_card(card)}")


@models_app.command("ensemble")
def models_ensemble(
    members: Annotated[list[Path], typer.Argument(help="Model folders (e.g. the folds of a cross-validation).")],
    out: OutOpt,
    name: Annotated[str, typer.Option("--name", help="Name for the ensemble's card.")] = "lesionwatch-ensemble",
    threshold: Annotated[float, typer.Option("--threshold", min=0.01, max=0.99,
                                             help="Probability threshold (choose it on held-out data).")] = 0.5,
    min_volume: Annotated[float, typer.Option("--min-lesion-volume-mm3", min=0.0)] = 5.0,
) -> None:
    """Combine models of the same shape into one that averages them."""
    from lesionwatch.models.card import CARD_NAME
    from lesionwatch.workflows.train import combine_models

    if (out / CARD_NAME).exists() and not STATE.force:
        raise OutputExistsError(f"{out}: already holds a model; pass --force to replace it.")
    combine_models(members, out, name=name, threshold=threshold, min_lesion_volume_mm3=min_volume)
    typer.echo(f"ensemble of {len(members)} models written to {out}")


def register(app: typer.Typer) -> None:
    """Add every command to `app`."""
    app.command()(preprocess)
    app.command()(segment)
    app.command()(followup)
    app.command()(report)
    app.command()(bids)
    app.command()(serve)
    app.command()(synth)
    app.command()(demo)
    app.command()(evaluate)
    app.command()(train)
    app.command()(finetune)
    app.add_typer(models_app, name="models")
