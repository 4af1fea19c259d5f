"""Bringing the studies of one patient into one common space.

Two studies: the follow-up is registered rigidly to the baseline (Mattes MI on brain-masked, bias-corrected
FLAIRs), and the common space is half-way between them: each study reaches it through the matrix square root of
that rigid transform, so both are resampled once, with the same blur. Three or more: the baseline is the common
space and every later study is registered to it (a half-way space for many studies would need a group-wise
registration that this does not attempt).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.linalg

from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.lesions.metrics import dice_score
from lesionwatch.preprocessing.registration import RegistrationConfig, RegistrationResult, register
from lesionwatch.preprocessing.resampling import Grid, WorkingGridConfig, resample, working_grid

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlignmentConfig:
    """How studies are aligned.

    Attributes:
        registration: study-to-baseline registration (rigid: one patient's head does not change shape), down to
            full resolution: a sub-millimetre misalignment would read as change at lesion edges.
        spacing_mm: voxel size of the common grid.
        margin_mm: margin around the baseline brain in the common grid.
    """

    registration: RegistrationConfig = field(default_factory=lambda: RegistrationConfig(iterations=120,
                                                                                      finest_level_mm=0.0))
    spacing_mm: float = 1.0
    margin_mm: float = 4.0


@dataclass(frozen=True)
class CommonSpace:
    """The common space of a patient's studies.

    Attributes:
        grid: the common grid (RAS+, isotropic).
        common_to_study: per study, 4x4 RAS+ matrix mapping common world mm to that study's world mm (the
            `world_transform` that resamples the study into the common grid).
        registrations: per later study, the registration to the baseline (similarity figures for QC).
        kind: "half-way" or "baseline".
    """

    grid: Grid
    common_to_study: tuple[npt.NDArray[np.float64], ...]
    registrations: tuple[RegistrationResult, ...]
    kind: str

    def study_to_common(self, index: int) -> npt.NDArray[np.float64]:
        """4x4 matrix mapping study `index`'s world mm to common world mm (resamples common-space maps back)."""
        return np.asarray(np.linalg.inv(self.common_to_study[index]))


def halfway_matrix(transform: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The rigid matrix H with H @ H = `transform` (the principal square root)."""
    root = scipy.linalg.sqrtm(transform)
    return np.asarray(np.real(root), dtype=np.float64)


def _masked(image: Volume, mask: LabelVolume) -> Volume:
    arr = image.array
    return image.with_array(np.where(mask.mask, arr - float(arr[mask.mask].min(initial=0.0)), 0.0))


def align_studies(flairs: list[Volume], brain_masks: list[LabelVolume], config: AlignmentConfig) -> CommonSpace:
    """Register every study to the first and build the common space.

    Args:
        flairs: bias-corrected FLAIR of each study, in time order, each on its own grid.
        brain_masks: brain mask of each study, on the grid of its FLAIR.
        config: registration and grid settings.

    Returns:
        CommonSpace with one common-to-study matrix per study.

    Raises:
        SpatialMismatchError, RegistrationError: a study could not be registered to the baseline.
    """
    if len(flairs) < 2 or len(flairs) != len(brain_masks):
        raise ValueError("align_studies needs at least two studies, each with its brain mask")
    fixed = _masked(flairs[0], brain_masks[0])
    results = []
    for flair, mask in zip(flairs[1:], brain_masks[1:], strict=True):
        # Register with the follow-up's own brain outline: both brains, not the skulls, drive the metric.
        results.append(register(_masked(flair, mask), fixed, config.registration, fixed_mask=brain_masks[0]))
    matrices: tuple[npt.NDArray[np.float64], ...]
    if len(flairs) == 2:
        baseline_to_followup = results[0].fixed_to_moving
        half = halfway_matrix(baseline_to_followup)
        matrices = (np.asarray(np.linalg.inv(half)), half)
        kind = "half-way"
    else:
        matrices = (np.eye(4), *(r.fixed_to_moving for r in results))
        kind = "baseline"
    grid = working_grid(brain_masks[0], WorkingGridConfig(config.spacing_mm, config.margin_mm),
                        world_transform=np.asarray(np.linalg.inv(matrices[0]), dtype=np.float64))
    for r in results:
        log.info("study registered to baseline: NMI %.3f (before %.3f), sharpness %+.3f",
                 r.normalized_mutual_information, r.initial_normalized_mutual_information, r.sharpness)
    return CommonSpace(grid, matrices, tuple(results), kind)


@dataclass(frozen=True)
class HeadMatch:
    """How well a later study matches the baseline once aligned: whether the two can be one head.

    Attributes:
        nmi: normalised mutual information of the aligned brain-masked FLAIRs.
        initial_nmi: the same before registration (header alignment).
        icv_ratio: larger over smaller intracranial volume (1 = equal).
        brain_dice: Dice of the two brain masks in the common space.
    """

    nmi: float
    initial_nmi: float
    icv_ratio: float
    brain_dice: float


def match_heads(space: CommonSpace, brain_masks: list[LabelVolume], intracranial_volumes_mm3: list[float],
                index: int) -> HeadMatch:
    """The `HeadMatch` of study `index` (1 or later) against the baseline in `space`."""
    registration = space.registrations[index - 1]
    base, other = (resample(brain_masks[i], space.grid, world_transform=space.common_to_study[i]).mask
                   for i in (0, index))
    volumes = sorted((intracranial_volumes_mm3[0], intracranial_volumes_mm3[index]))
    return HeadMatch(registration.normalized_mutual_information, registration.initial_normalized_mutual_information,
                     volumes[1] / max(volumes[0], 1e-9), dice_score(base, other))
