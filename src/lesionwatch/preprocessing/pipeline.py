"""The preprocessing pipeline: the one place that fixes the order of the stages.

    reorient (RAS+) -> register T1/T2/PD to the FLAIR -> brain extraction -> N4 bias correction
    -> resample to the working grid -> intensity normalisation

Inputs: a `Study` (images as read). Outputs: a `PreprocessedStudy` holding every channel on one isotropic RAS+
working grid around the brain, the brain mask there and on the native FLAIR grid, registration quality figures,
and timings. `PreprocessedStudy.to_native` is the inverse used to write any result back onto the FLAIR's own grid
with the FLAIR's own header.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import overload

import numpy as np
import numpy.typing as npt

from lesionwatch.errors import SpatialMismatchError
from lesionwatch.io.study import Study
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.preprocessing.bias_correction import BiasCorrectionConfig, correct_bias
from lesionwatch.preprocessing.normalization import NormalizationConfig, normalize_intensity
from lesionwatch.preprocessing.registration import RegistrationConfig, register
from lesionwatch.preprocessing.reorientation import reorient_to_ras, restore_orientation
from lesionwatch.preprocessing.resampling import (
    Grid,
    WorkingGridConfig,
    resample,
    resample_probability_as_labels,
    restore_native,
    working_grid,
)
from lesionwatch.preprocessing.skull_stripping import SkullStrippingConfig, strip_skull

log = logging.getLogger(__name__)

STAGES = ("reorient", "register", "skull_strip", "bias_correct", "resample", "normalize")

StageCallback = Callable[[str], None]


@dataclass(frozen=True)
class PreprocessingConfig:
    """Configuration of every preprocessing stage."""

    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    skull_stripping: SkullStrippingConfig = field(default_factory=SkullStrippingConfig)
    bias_correction: BiasCorrectionConfig = field(default_factory=BiasCorrectionConfig)
    working_grid: WorkingGridConfig = field(default_factory=WorkingGridConfig)
    normalization: NormalizationConfig = field(default_factory=NormalizationConfig)


@dataclass(frozen=True)
class RegistrationQC:
    """Quality figures of one sequence's registration to the FLAIR (see `RegistrationResult`)."""

    flair_to_sequence: npt.NDArray[np.float64]
    mutual_information: float
    normalized_mutual_information: float
    initial_normalized_mutual_information: float
    sharpness: float


@dataclass(frozen=True)
class PreprocessedStudy:
    """The output of `preprocess`.

    Attributes:
        native_flair: the FLAIR as read (native grid and header); the target of `to_native`.
        channels: sequence name -> normalised Volume on the working grid, in channel order.
        brain_mask: brain mask on the working grid.
        native_brain_mask: brain mask on the native FLAIR grid, with the FLAIR's header.
        bias_corrected_flair: N4-corrected FLAIR on the native grid (RAS-reordered), before normalisation.
        brain_mask_method: "deepbet" or "skull-stripped input".
        registrations: per non-FLAIR sequence, its registration QC.
        timings_s: seconds per stage.
    """

    native_flair: Volume
    channels: dict[str, Volume]
    brain_mask: LabelVolume
    native_brain_mask: LabelVolume
    bias_corrected_flair: Volume
    brain_mask_method: str
    registrations: dict[str, RegistrationQC]
    timings_s: dict[str, float]

    @property
    def grid(self) -> Grid:
        """The working grid."""
        return Grid.of(self.brain_mask)

    @property
    def native_bias_corrected_flair(self) -> Volume:
        """The N4-corrected FLAIR on the native FLAIR grid, with its header (what output folders hold); resampled
        once, for every step that reads it."""
        return self._native_once("bias-corrected flair", self.bias_corrected_flair)

    def native_channel(self, name: str) -> Volume:
        """Normalised channel `name` on the native FLAIR grid, with its header (the lesion table's intensities, the
        registered sequences output folders hold); resampled once, for every step that reads it."""
        return self._native_once(name, self.channels[name])

    def _native_once(self, key: str, image: Volume) -> Volume:
        """`to_native(image)`, kept under `key` so that each image is resampled once per study."""
        if key not in self._native_cache:
            self._native_cache[key] = self.to_native(image)
        return self._native_cache[key]

    @functools.cached_property
    def _native_cache(self) -> dict[str, Volume]:
        return {}

    @overload
    def to_native(self, image: Volume) -> Volume: ...
    @overload
    def to_native(self, image: LabelVolume) -> LabelVolume: ...
    def to_native(self, image: Volume | LabelVolume) -> Volume | LabelVolume:
        """Bring a working-grid image onto the native FLAIR grid, with the FLAIR's header."""
        return restore_native(image, self.native_flair)


class _Timer:
    def __init__(self, on_stage: StageCallback | None) -> None:
        self.timings: dict[str, float] = {}
        self._on_stage = on_stage

    def run(self, stage: str) -> _Stage:
        return _Stage(self, stage)


class _Stage:
    def __init__(self, timer: _Timer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self) -> None:
        if self.timer._on_stage is not None:
            self.timer._on_stage(self.name)
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timer.timings[self.name] = round(time.perf_counter() - self.start, 3)


def preprocess(study: Study, config: PreprocessingConfig, *, on_stage: StageCallback | None = None
               ) -> PreprocessedStudy:
    """Run every preprocessing stage on one study.

    Args:
        study: FLAIR and optional T1/T2/PD, as read.
        config: per-stage configuration.
        on_stage: called with each stage name as it starts (for progress display).

    Returns:
        PreprocessedStudy (see its attributes).

    Raises:
        SpatialMismatchError: a sequence does not overlap the FLAIR in world space.
        RegistrationError: a registration failed.
    """
    timer = _Timer(on_stage)
    with timer.run("reorient"):
        flair = reorient_to_ras(study.flair)
        others = {name: reorient_to_ras(img) for name, img in study.images.items() if name != "flair"}

    registered: dict[str, Volume] = {}
    qc: dict[str, RegistrationQC] = {}
    with timer.run("register"):
        for name, image in others.items():
            try:
                result = register(image, flair, config.registration)
            except SpatialMismatchError as exc:
                where = study.sources.get(name, name.upper())
                raise SpatialMismatchError(f"{where}: the {name.upper()} does not lie on the FLAIR: {exc}",
                                           name) from exc
            registered[name] = result.registered
            qc[name] = RegistrationQC(result.fixed_to_moving, result.mutual_information,
                                      result.normalized_mutual_information,
                                      result.initial_normalized_mutual_information, result.sharpness)

    with timer.run("skull_strip"):
        brain = strip_skull(flair, config.skull_stripping, t1=registered.get("t1"))
        mask_ras = brain.mask

    with timer.run("bias_correct"):
        corrected = {"flair": correct_bias(flair, mask_ras, config.bias_correction)}
        for name, image in registered.items():
            corrected[name] = correct_bias(image, mask_ras, config.bias_correction)

    with timer.run("resample"):
        grid = working_grid(mask_ras, config.working_grid)
        mask_float = Volume(mask_ras.array.astype(np.float32), mask_ras.affine)
        working_mask = resample_probability_as_labels(mask_float, grid, 0.5)
        moved = {name: resample(image, grid, order=1) for name, image in corrected.items()}

    with timer.run("normalize"):
        channels = {name: normalize_intensity(image, working_mask, config.normalization)
                    for name, image in moved.items()}

    ordered = {name: channels[name] for name in study.sequences}
    native_mask = restore_orientation(mask_ras, study.flair)
    log.info("preprocessing done in %.1f s: working grid %s at %.1f mm", sum(timer.timings.values()),
             "x".join(map(str, grid.shape)), config.working_grid.spacing_mm)
    return PreprocessedStudy(
        native_flair=study.flair,
        channels=ordered,
        brain_mask=working_mask,
        native_brain_mask=native_mask,
        bias_corrected_flair=corrected["flair"],
        brain_mask_method=brain.method,
        registrations=qc,
        timings_s=timer.timings,
    )
