"""Joint change analysis on a grid where the truth is exact, and the half-way space."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation

from lesionwatch.inference.postprocessing import PostprocessingConfig
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.longitudinal.alignment import halfway_matrix
from lesionwatch.longitudinal.change import (
    ENLARGING_GROWTH,
    NEW,
    ChangeConfig,
    analyse_change,
)
from lesionwatch.synth import FollowupConfig, SynthConfig, generate_case

NO_MINIMUM = PostprocessingConfig(threshold=0.5, min_lesion_volume_mm3=0.0)


def _images(labels: np.ndarray, brain: np.ndarray, rng: np.random.Generator, spacing: float = 1.0) -> Volume:
    flair = rng.normal(0.0, 0.3, labels.shape) + 4.0 * (labels > 0)
    return Volume(np.where(brain, flair, 0.0).astype(np.float32), np.diag([spacing, spacing, spacing, 1.0]))


def test_synthetic_followup_is_classified_lesion_by_lesion() -> None:
    case = generate_case(8, SynthConfig(spacing_mm=1.5, lesion_count=(12, 16)), timepoints=3,
                         followup=FollowupConfig(new_count=(2, 3), p_enlarging=0.25, p_shrinking=0.15,
                                                 p_resolved=0.1))
    rng = np.random.default_rng(0)
    maps = [tp.anatomy_lesions.array for tp in case.timepoints]
    brain = ndimage.binary_dilation(np.logical_or.reduce([m > 0 for m in maps]), iterations=6)
    grid = np.diag([1.5, 1.5, 1.5, 1.0])
    flairs = [_images(m, brain, rng, 1.5) for m in maps]
    probabilities = [np.where(m > 0, 0.9, 0.05).astype(np.float32) for m in maps]
    # the segmenter misses a stable lesion at the last time point: without a FLAIR change it must stay stable
    stable = [t for t in case.lesions if t.changes and t.changes[-1] == "stable" and t.volumes_mm3[-1] > 20]
    missed = stable[0].id
    probabilities[-1][maps[-1] == missed] = 0.1
    voxel = 1.5 ** 3
    result = analyse_change(flairs, [Volume(p, grid) for p in probabilities], LabelVolume(brain, grid),
                            ChangeConfig(min_volume_change_mm3=2 * voxel), NO_MINIMUM)
    checked = 0
    for truth in case.lesions:
        if min(v for v in truth.volumes_mm3 if v > 0) < 4 * voxel:
            continue  # one-voxel remnants are below any segmenter's resolution
        t_last = len(case.timepoints) - 1
        where = maps[t_last] == truth.id if truth.volumes_mm3[-1] > 0 else maps[t_last - 1] == truth.id
        if not where.any():
            continue
        ids = result.lesion_ids[t_last].array[where] if truth.volumes_mm3[-1] > 0 else \
            result.lesion_ids[t_last - 1].array[where]
        track_id = int(np.bincount(ids[ids > 0]).argmax())
        track = next(tr for tr in result.tracks if tr.lesion_id == track_id)
        in_track = np.logical_or.reduce([m.array == track_id for m in result.lesion_ids])
        truths_in_track = np.unique(np.concatenate([m[in_track] for m in maps]))
        if np.count_nonzero(truths_in_track) > 1:
            continue  # touching lesions share one track (see the merge test)
        assert track.changes[-1] == truth.changes[-1], (truth, track)
        checked += 1
    assert checked >= 8
    last = result.intervals[-1]
    truth_new = sum(1 for t in case.lesions if t.changes[-1] == "new")
    assert last.new_count == truth_new
    assert np.isin(result.change_maps[-1].array, (NEW, ENLARGING_GROWTH)).any()


def test_new_lesion_needs_an_intensity_change() -> None:
    shape = (30, 30, 30)
    brain = np.ones(shape, bool)
    lesion = np.zeros(shape, bool)
    lesion[10:15, 10:15, 10:15] = True
    rng = np.random.default_rng(1)
    flair_same = _images(lesion.astype(int), brain, rng)
    flair_same2 = _images(lesion.astype(int), brain, rng)
    p1 = Volume(np.where(lesion, 0.3, 0.0), np.eye(4))  # missed at baseline...
    p2 = Volume(np.where(lesion, 0.9, 0.0), np.eye(4))  # ...found at follow-up, same FLAIR
    cfg = ChangeConfig()
    unchanged = analyse_change([flair_same, flair_same2], [p1, p2], LabelVolume(brain, np.eye(4)), cfg, NO_MINIMUM)
    assert [t.changes for t in unchanged.tracks] == [["stable"]]
    flair_before = _images(np.zeros(shape, int), brain, rng)
    appeared = analyse_change([flair_before, flair_same2], [p1, p2], LabelVolume(brain, np.eye(4)), cfg, NO_MINIMUM)
    assert [t.changes for t in appeared.tracks] == [["new"]]
    assert appeared.intervals[0].new_count == 1


def test_no_change_is_read_at_the_brain_edge() -> None:
    """Brightening in the brain mask's outer rim (extraction, registration, CSF partial volume) is not a new lesion."""
    shape = (30, 30, 30)
    brain = np.zeros(shape, bool)
    brain[3:27, 3:27, 3:27] = True
    rim = np.zeros(shape, bool)
    rim[3:5, 12:17, 12:17] = True  # the outer 2 mm of the brain
    rng = np.random.default_rng(4)
    flairs = [_images(np.zeros(shape, int), brain, rng), _images(rim.astype(int), brain, rng)]
    probs = [Volume(np.where(rim, 0.3, 0.0), np.eye(4)), Volume(np.where(rim, 0.9, 0.0), np.eye(4))]
    mask = LabelVolume(brain, np.eye(4))
    off = analyse_change(flairs, probs, mask, ChangeConfig(edge_mm=0.0), NO_MINIMUM)
    assert [t.changes for t in off.tracks] == [["new"]]
    result = analyse_change(flairs, probs, mask, ChangeConfig(), NO_MINIMUM)
    assert not result.change_evidence[0].array[rim].any()
    assert [t.changes for t in result.tracks] == [["stable"]]  # pooled: (0.3 + 0.9) / 2 >= 0.5 in both studies


def test_two_lesions_growing_into_one_are_merged() -> None:
    shape = (30, 30, 30)
    brain = np.ones(shape, bool)
    before = np.zeros(shape, int)
    before[10:14, 10:14, 10:14] = 1
    before[10:14, 17:21, 10:14] = 1
    after = before.copy()
    after[10:14, 10:21, 10:14] = 1
    rng = np.random.default_rng(2)
    result = analyse_change([_images(before, brain, rng), _images(after, brain, rng)],
                            [Volume(np.where(m > 0, 0.9, 0.0), np.eye(4)) for m in (before, after)],
                            LabelVolume(brain, np.eye(4)), ChangeConfig(), NO_MINIMUM)
    (track,) = result.tracks
    assert track.merged == [True] and track.split == [False]
    assert track.changes == ["stable"]  # 128 -> 176 voxels: +37%, below the 50% of "enlarging"


def test_a_growing_lesion_is_enlarging_and_a_shrinking_one_shrinking() -> None:
    shape = (40, 30, 30)
    brain = np.ones(shape, bool)
    before = np.zeros(shape, int)
    before[5:10, 10:15, 10:15] = 1  # grows to 2.4 times its volume
    before[22:32, 10:16, 10:16] = 2  # shrinks to 0.3 times
    after = np.zeros(shape, int)
    after[5:17, 10:15, 10:15] = 1
    after[22:25, 10:16, 10:16] = 2
    rng = np.random.default_rng(5)
    result = analyse_change([_images(before, brain, rng), _images(after, brain, rng)],
                            [Volume(np.where(m > 0, 0.9, 0.0), np.eye(4)) for m in (before, after)],
                            LabelVolume(brain, np.eye(4)), ChangeConfig(), NO_MINIMUM)
    by_volume = {tuple(t.volumes_mm3): t.changes[0] for t in result.tracks}
    assert by_volume == {(125.0, 300.0): "enlarging", (360.0, 108.0): "shrinking"}
    interval = result.intervals[0]
    assert (interval.new_count, interval.enlarging_count, interval.shrinking_count) == (0, 1, 1)
    growth = result.change_maps[1].array == ENLARGING_GROWTH
    assert growth.sum() == 175 and growth[10:17, 10:15, 10:15].all() and not growth[5:10].any()  # the new tissue only


def test_halfway_matrix_applied_twice_is_the_transform() -> None:
    t = np.eye(4)
    t[:3, :3] = Rotation.from_euler("xyz", [8, -5, 12], degrees=True).as_matrix()
    t[:3, 3] = [4.0, -7.0, 2.5]
    h = halfway_matrix(t)
    assert h @ h == pytest.approx(t, abs=1e-9)
    assert np.linalg.det(h[:3, :3]) == pytest.approx(1.0)


def test_new_signal_the_segmenter_doubts_stays_lesion_while_it_lasts() -> None:
    shape = (30, 30, 30)
    brain = np.ones(shape, bool)
    lesion = np.zeros(shape, int)
    lesion[10:15, 10:15, 10:15] = 1
    rng = np.random.default_rng(3)
    flairs = [_images(np.zeros(shape, int), brain, rng), _images(lesion, brain, rng), _images(lesion, brain, rng)]
    unsure = Volume(np.where(lesion > 0, 0.1, 0.0), np.eye(4))  # the segmenter barely sees it, every time
    result = analyse_change(flairs, [Volume(np.zeros(shape), np.eye(4)), unsure, unsure],
                            LabelVolume(brain, np.eye(4)), ChangeConfig(), NO_MINIMUM)
    assert [t.changes for t in result.tracks] == [["new", "stable"]]


def test_followup_command_defaults_are_the_change_config_defaults() -> None:
    """`lesionwatch followup` without the options runs the analysis documented by ChangeConfig."""
    import inspect

    from lesionwatch.cli.studies import followup

    defaults, config = inspect.signature(followup).parameters, ChangeConfig()
    assert defaults["change_sd"].default == config.change_sd
    assert defaults["edge_mm"].default == config.edge_mm
