"""Options and defaults the commands share: study inputs, preprocessing, and the configs' defaults that every
option reads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lesionwatch.errors import ConfigError
from lesionwatch.io.study import StudyInputs
from lesionwatch.longitudinal.change import ChangeConfig
from lesionwatch.preprocessing.bias_correction import BiasCorrectionConfig
from lesionwatch.preprocessing.pipeline import PreprocessingConfig
from lesionwatch.preprocessing.registration import RegistrationConfig
from lesionwatch.preprocessing.resampling import WorkingGridConfig
from lesionwatch.preprocessing.skull_stripping import SkullStrippingConfig
from lesionwatch.training.config import TrainingConfig

# every command option's default is read from these: the configs' own defaults
DEFAULT_REGISTRATION = RegistrationConfig()
DEFAULT_GRID = WorkingGridConfig()
DEFAULT_SKULL_STRIPPING = SkullStrippingConfig()
DEFAULT_BIAS_CORRECTION = BiasCorrectionConfig()
DEFAULT_CHANGE = ChangeConfig()
DEFAULT_TRAINING = TrainingConfig()
DEFAULT_AUGMENTATION = DEFAULT_TRAINING.augmentation
DEFAULT_FEATURES = ",".join(str(f) for f in DEFAULT_TRAINING.features)
DEFAULT_THICK_SLICE_MM = ",".join(f"{mm:g}" for mm in DEFAULT_AUGMENTATION.thick_slice_mm)

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


def parse_range(option: str, text: str) -> tuple[float, float]:
    """`LO,HI` as two positive floats with LO <= HI, or a ConfigError naming the option."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise ConfigError(f"{option} {text!r}: expected two comma-separated numbers LO,HI such as 1.1,2") from exc
    if not 0 < lo <= hi:
        raise ConfigError(f"{option} {text!r}: expected 0 < LO <= HI")
    return lo, hi
