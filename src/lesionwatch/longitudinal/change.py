"""Joint segmentation of a patient's studies in the common space, lesion identities and change classes.

Segmenting each study alone and subtracting the masks turns every small disagreement of the segmenter into a
"new" or "resolved" lesion. Here a voxel's lesion status may only change between two studies where its FLAIR
intensity changed too:

1. D = FLAIR(t) - FLAIR(t-1) on the common grid (robust z units, lightly smoothed). An interval is a *change* at
   a voxel when |D| exceeds `change_sd` robust spreads of D inside the brain, and lies more than `edge_mm` inside
   the brain mask: at its edge, D is dominated by brain extraction, registration and partial volume with CSF, which
   differ between protocols (on a thick-slice pair with a protocol change those rims made most false "new"
   lesions: docs/analysis.md).
2. For each voxel, studies not separated by a change form one run; the lesion probabilities are averaged over the
   run, and the averaged probability is thresholded (with a lower threshold where the FLAIR brightened; where it
   brightened into clearly hyperintense signal, the voxel is lesion in any case). A lesion that the segmenter
   found in one study but missed in the next, with no intensity change, is thus the same lesion (present in both
   or in neither), never "new".
3. Lesion identities: connected components (26-connectivity) of the union of all studies' masks. Each component
   is one lesion with one id across all studies; when it has several pieces in one study and one in the next
   they merged, one piece then several is a split.
4. Classes per interval, from the volumes in the common grid: new (absent before), resolved (absent after),
   enlarging (volume x`enlarging_ratio` or more and at least `min_volume_change_mm3` more: the 50% increase used
   by MAGNIMS/clinical trials for "enlarging T2 lesions"), shrinking (x`shrinking_ratio` or less and at least
   `min_volume_change_mm3` less), otherwise stable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lesionwatch.inference.postprocessing import PostprocessingConfig, remove_small_lesions
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.lesions.components import label_lesions

CHANGE_LABELS = {
    1: "stable lesion (or any lesion of the baseline study)",
    2: "new lesion",
    3: "enlarging lesion: tissue already lesional in the previous study",
    4: "enlarging lesion: new growth",
    5: "shrinking lesion",
    6: "resolved or lost lesion tissue (lesional in the previous study, not in this one)",
}
"""Values of a change map (0 = no lesion). Activity (new + growth, as the expert change masks mark it): 2 and 4."""
STABLE, NEW, ENLARGING_OLD, ENLARGING_GROWTH, SHRINKING, LOST = 1, 2, 3, 4, 5, 6
ACTIVITY_LABELS = (NEW, ENLARGING_GROWTH)

CHANGE_CLASSES = ("new", "enlarging", "stable", "shrinking", "resolved", "absent")


@dataclass(frozen=True)
class ChangeConfig:
    """Thresholds of the joint analysis and the change classes (the lesion threshold and minimum lesion volume are
    the segmentation's operating point, `PostprocessingConfig`, given beside this).

    Attributes:
        change_sd: an intensity change larger than this many robust spreads of the difference image counts...
        min_change_z: ...and larger than this in normalised FLAIR units (robust z; lesions are 2-6 units brighter
            than white matter), so that very clean images do not turn interpolation blur into change.
        smoothing_mm: Gaussian sigma applied to the difference image before that test.
        edge_mm: no change is detected within this distance of the brain mask's edge (the cortex is 2-4 mm thick;
            juxtacortical lesions lie in the white matter beneath it). 0 turns it off.
        brightened_threshold_factor: where the FLAIR brightened since the previous study, the probability
            threshold is multiplied by this: new signal is evidence of a lesion, so new lesions the segmenter is
            unsure of are still found (step 2 above). 1.0 turns it off.
        new_signal_min_z: where the FLAIR brightened and is now at least this bright (normalised FLAIR, robust
            z), the voxel is lesion whatever the segmenter says: strong new hyperintense signal is how a
            radiologist spots a new lesion on subtraction images. Raise it to disable.
        enlarging_ratio, shrinking_ratio: volume ratios (after / before) that make a lesion enlarging / shrinking...
        min_volume_change_mm3: ...provided the volume changed by at least this much.
    """

    change_sd: float = 3.0
    min_change_z: float = 1.0
    brightened_threshold_factor: float = 0.5
    new_signal_min_z: float = 2.0
    smoothing_mm: float = 0.5
    edge_mm: float = 3.0
    enlarging_ratio: float = 1.5
    shrinking_ratio: float = 0.67
    min_volume_change_mm3: float = 10.0


@dataclass
class LesionTrack:
    """One lesion across all studies.

    Attributes:
        lesion_id: the id shared by every study's lesion map and table.
        volumes_mm3: volume in each study (0 when absent), measured in the common grid.
        changes: class of each interval (study t-1 -> t): one of `CHANGE_CLASSES`.
        merged, split: per interval, whether pieces merged into this lesion or it split into pieces.
    """

    lesion_id: int
    volumes_mm3: list[float] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    merged: list[bool] = field(default_factory=list)
    split: list[bool] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IntervalSummary:
    """Activity between two consecutive studies."""

    interval: str
    new_count: int
    enlarging_count: int
    shrinking_count: int
    resolved_count: int
    stable_count: int
    merged_count: int
    split_count: int
    volume_before_mm3: float
    volume_after_mm3: float
    volume_change_mm3: float
    new_and_growth_volume_mm3: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LongitudinalResult:
    """Joint analysis of a patient's studies on the common grid.

    Attributes:
        lesion_ids: per study, lesion ids (shared across studies) of its lesions.
        change_maps: per study, change labels (`CHANGE_LABELS`) relative to the previous study.
        tracks: every lesion, sorted by id.
        intervals: one summary per interval.
        change_evidence: per interval, voxels where the FLAIR intensity changed significantly (+1 up, -1 down).
    """

    lesion_ids: list[LabelVolume]
    change_maps: list[LabelVolume]
    tracks: list[LesionTrack]
    intervals: list[IntervalSummary]
    change_evidence: list[LabelVolume]


def _robust_spread(values: npt.NDArray[np.float32]) -> float:
    if values.size == 0:
        return 1.0
    centre = float(np.median(values))
    return max(float(1.4826 * np.median(np.abs(values - centre))), 1e-3)


def intensity_change(before: Volume, after: Volume, brain: npt.NDArray[np.bool_], config: ChangeConfig
                     ) -> npt.NDArray[np.int8]:
    """Significant FLAIR change between two co-registered studies: +1 brighter, -1 darker, 0 unchanged (and 0 in
    the brain mask's outer `config.edge_mm`)."""
    sigma = config.smoothing_mm / np.array(before.spacing_mm)
    diff = ndimage.gaussian_filter(after.array - before.array, sigma)
    diff = diff - float(np.median(diff[brain])) if brain.any() else diff
    limit = max(config.change_sd * _robust_spread(diff[brain]), config.min_change_z)
    out = np.zeros(diff.shape, np.int8)
    out[(diff > limit) & brain] = 1
    out[(diff < -limit) & brain] = -1
    if config.edge_mm > 0:  # outside the field of view counts as outside the brain
        depth = ndimage.distance_transform_edt(np.pad(brain, 1), sampling=before.spacing_mm)[1:-1, 1:-1, 1:-1]
        out[depth <= config.edge_mm] = 0
    return out


def joint_masks(probabilities: list[Volume], changes: list[npt.NDArray[np.int8]], brain: npt.NDArray[np.bool_],
                config: ChangeConfig, operating_point: PostprocessingConfig, flairs: list[Volume] | None = None
                ) -> list[npt.NDArray[np.bool_]]:
    """Lesion masks of all studies, with probabilities pooled over runs of unchanged intensity (step 2) and
    thresholded at `operating_point` (lowered where the FLAIR brightened)."""
    n = len(probabilities)
    run = [np.zeros(brain.shape, np.int16)]
    for t in range(1, n):
        run.append(run[-1] + (changes[t - 1] != 0))
    # a run that began with a brightening keeps the lower threshold for all its studies, and a run that began by
    # brightening into hyperintense signal stays lesion for all its studies
    bright = [np.zeros(brain.shape, bool)]
    new_signal = [np.zeros(brain.shape, bool)]
    for t in range(1, n):
        bright.append(np.where(changes[t - 1] != 0, changes[t - 1] > 0, bright[-1]))
        hyperintense = flairs[t].array >= config.new_signal_min_z if flairs is not None else np.zeros_like(brain)
        new_signal.append(np.where(changes[t - 1] != 0, (changes[t - 1] > 0) & hyperintense, new_signal[-1]))
    masks = []
    voxel_mm3 = probabilities[0].voxel_volume_mm3
    for t in range(n):
        total = np.zeros(brain.shape, np.float32)
        count = np.zeros(brain.shape, np.float32)
        for u in range(n):
            same = run[u] == run[t]
            total += np.where(same, probabilities[u].array, 0.0)
            count += same
        pooled = total / count
        base = operating_point.threshold
        threshold = np.where(bright[t], base * config.brightened_threshold_factor, base)
        mask = ((pooled >= threshold) | new_signal[t]) & brain
        masks.append(remove_small_lesions(mask, voxel_mm3, operating_point.min_lesion_volume_mm3))
    return masks


def _classify(before: float, after: float, config: ChangeConfig) -> str:
    if before == 0 and after == 0:
        return "absent"
    if before == 0:
        return "new"
    if after == 0:
        return "resolved"
    if after >= config.enlarging_ratio * before and after - before >= config.min_volume_change_mm3:
        return "enlarging"
    if after <= config.shrinking_ratio * before and before - after >= config.min_volume_change_mm3:
        return "shrinking"
    return "stable"


def _pieces_per_lesion(mask: npt.NDArray[np.bool_], union_ids: npt.NDArray[np.int32], n: int
                       ) -> npt.NDArray[np.int64]:
    pieces, k = label_lesions(mask)
    counts = np.zeros(n + 1, np.int64)
    if k:
        pairs = np.unique(np.stack([union_ids[mask], pieces[mask]]), axis=1)
        np.add.at(counts, pairs[0], 1)
    return counts


def analyse_change(flairs: list[Volume], probabilities: list[Volume], brain: LabelVolume, config: ChangeConfig,
                   operating_point: PostprocessingConfig) -> LongitudinalResult:
    """Jointly segment the studies, give lesions shared ids and classify every change.

    Args:
        flairs: normalised FLAIR of each study on the common grid, in time order.
        probabilities: lesion probability of each study on the common grid.
        brain: brain mask on the common grid (the intersection of the studies' masks).
        config: thresholds of the intensity change and the change classes.
        operating_point: the segmentation's lesion threshold and minimum lesion volume (the card's).

    Returns:
        LongitudinalResult on the common grid.
    """
    n = len(flairs)
    inside = brain.mask
    changes = [intensity_change(flairs[t - 1], flairs[t], inside, config) for t in range(1, n)]
    masks = joint_masks(probabilities, changes, inside, config, operating_point, flairs)
    union_ids, n_lesions = label_lesions(np.logical_or.reduce(masks))
    voxel_mm3 = brain.voxel_volume_mm3
    volumes = [np.bincount(union_ids[m], minlength=n_lesions + 1) * voxel_mm3 for m in masks]
    pieces = [_pieces_per_lesion(m, union_ids, n_lesions) for m in masks]
    tracks = []
    for lesion in range(1, n_lesions + 1):
        track = LesionTrack(lesion, [round(float(v[lesion]), 2) for v in volumes])
        for t in range(1, n):
            track.changes.append(_classify(track.volumes_mm3[t - 1], track.volumes_mm3[t], config))
            track.merged.append(bool(pieces[t - 1][lesion] > 1 and pieces[t][lesion] == 1))
            track.split.append(bool(pieces[t - 1][lesion] == 1 and pieces[t][lesion] > 1))
        tracks.append(track)

    ids_maps = [brain.with_array(np.where(m, union_ids, 0).astype(np.int32)) for m in masks]
    change_maps = [brain.with_array(np.where(masks[0], STABLE, 0).astype(np.uint8))]
    intervals = []
    for t in range(1, n):
        cls = np.array(["absent"] + [tr.changes[t - 1] for tr in tracks])
        code = np.zeros(n_lesions + 1, np.uint8)
        code[cls == "stable"] = STABLE
        code[cls == "new"] = NEW
        code[cls == "enlarging"] = ENLARGING_OLD
        code[cls == "shrinking"] = SHRINKING
        now = np.where(masks[t], code[union_ids], 0).astype(np.uint8)
        growth = masks[t] & ~masks[t - 1] & (now == ENLARGING_OLD)
        now[growth] = ENLARGING_GROWTH
        now[masks[t - 1] & ~masks[t] & np.isin(cls[union_ids], ["resolved", "shrinking"])] = LOST
        change_maps.append(brain.with_array(now))
        counts = {c: int((cls[1:] == c).sum()) for c in CHANGE_CLASSES}
        before, after = float(volumes[t - 1].sum()), float(volumes[t].sum())
        intervals.append(IntervalSummary(
            interval=f"{t}->{t + 1}", new_count=counts["new"], enlarging_count=counts["enlarging"],
            shrinking_count=counts["shrinking"], resolved_count=counts["resolved"], stable_count=counts["stable"],
            merged_count=sum(tr.merged[t - 1] for tr in tracks), split_count=sum(tr.split[t - 1] for tr in tracks),
            volume_before_mm3=round(before, 1), volume_after_mm3=round(after, 1),
            volume_change_mm3=round(after - before, 1),
            new_and_growth_volume_mm3=round(float(np.isin(now, ACTIVITY_LABELS).sum()) * voxel_mm3, 1),
        ))
    evidence = [brain.with_array(c) for c in changes]
    return LongitudinalResult(ids_maps, change_maps, tracks, intervals, evidence)
