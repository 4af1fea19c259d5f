"""The follow-up workflow: analyse two or more studies of one patient jointly and write what changed.

Output folder:
    <label>/          one per study: native-grid lesion mask, lesion labels (ids shared by all studies), change map
                      (`longitudinal.change.CHANGE_LABELS`), probability, regions, lesion table, summary
    common/           the common space: each study's FLAIR, lesion labels and change map (`space-common`)
    change_table.csv/.json   one row per lesion: volume per study (common grid), class per interval
    summary.json      per interval: new / enlarging / shrinking / resolved counts and volume change
    transforms.json   common-to-study matrices (RAS+ mm) and registration similarity
    provenance.json, lesionwatch.log
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lesionwatch.errors import ConfigError, ImplausibleInputError
from lesionwatch.inference.postprocessing import PostprocessingConfig
from lesionwatch.inference.predictor import load_scorer, model_provenance
from lesionwatch.io.atomic import write_json_atomically
from lesionwatch.io.nifti import write_nifti
from lesionwatch.io.study import StudyInputs, load_study
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.longitudinal.alignment import AlignmentConfig, CommonSpace, HeadMatch, align_studies, match_heads
from lesionwatch.longitudinal.change import CHANGE_LABELS, ChangeConfig, LongitudinalResult, analyse_change
from lesionwatch.preprocessing.pipeline import PreprocessingConfig
from lesionwatch.preprocessing.resampling import Grid, resample
from lesionwatch.workflows.layout import (
    CHANGE_MAP_NAME,
    CHANGE_TABLE_NAME,
    COMMON_DIR,
    PROVENANCE_NAME,
    SUMMARY_NAME,
    TRANSFORMS_NAME,
    common_name,
)
from lesionwatch.workflows.preprocess import NATIVE, RunOptions, check_output_folder, output_folder
from lesionwatch.workflows.progress import stage_progress
from lesionwatch.workflows.provenance import build_provenance, config_dict
from lesionwatch.workflows.report import write_report_after_analysis
from lesionwatch.workflows.segment import (
    ANALYSIS_STAGES,
    SegmentationConfig,
    StudyAnalysis,
    analyse_study,
    write_study_results,
)
from lesionwatch.workflows.tables import write_table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LongitudinalConfig:
    """Configuration of a follow-up beyond segmentation.

    Attributes:
        alignment: how studies are brought into the common space.
        change: thresholds of the intensity change and the change classes; the lesion threshold and minimum
            volume of the joint analysis are the segmentation's operating point, so one control governs both.
    """

    alignment: AlignmentConfig = field(default_factory=AlignmentConfig)
    change: ChangeConfig = field(default_factory=ChangeConfig)


def _to_common(image: Volume, space: CommonSpace, index: int) -> Volume:
    return resample(image, space.grid, world_transform=space.common_to_study[index], order=1)


def _to_native(labels: LabelVolume, analysis: StudyAnalysis, space: CommonSpace, index: int) -> LabelVolume:
    native = analysis.pre.native_flair
    moved = resample(labels, Grid.of(native), world_transform=space.study_to_common(index))
    return LabelVolume(moved.array, native.affine, native.header)


def registration_masks(analyses: list[StudyAnalysis]) -> list[LabelVolume]:
    """Each study's brain mask on the grid of its bias-corrected FLAIR (what the studies are aligned and compared
    as heads on)."""
    return [resample(a.pre.native_brain_mask, Grid.of(a.pre.bias_corrected_flair)) for a in analyses]


def joint_analysis(analyses: list[StudyAnalysis], config: LongitudinalConfig, masks: list[LabelVolume],
                   operating_point: PostprocessingConfig) -> tuple[CommonSpace, LongitudinalResult]:
    """Align the analysed studies (`masks`: their `registration_masks`) and classify lesion change at the
    segmentation's `operating_point`; returns the space and the result."""
    space = align_studies([a.pre.bias_corrected_flair for a in analyses], masks, config.alignment)
    common_flairs = [_to_common(a.pre.channels["flair"], space, i) for i, a in enumerate(analyses)]
    probabilities = [_to_common(a.probability, space, i) for i, a in enumerate(analyses)]
    brains = [resample(a.pre.brain_mask, space.grid, world_transform=space.common_to_study[i]).mask
              for i, a in enumerate(analyses)]
    brain = LabelVolume(np.logical_and.reduce(brains).astype(np.uint8), space.grid.affine)
    result = analyse_change(common_flairs, probabilities, brain, config.change, operating_point)
    return space, result


MIN_SAME_HEAD_NMI = 1.035
MAX_ICV_RATIO = 1.3
MIN_BRAIN_DICE = 0.9
"""Below / above these a follow-up is taken for two different heads. benchmarks/same_head.py on the shared data:
the aligned FLAIRs of one head score NMI 1.063-1.158 (lesjak_long patient01 and 03, MSLesSeg P14 T1 / T3), of
different patients 1.008-1.030 (five pairs, raw and skull-stripped; the highest two MNI-registered scans of one
data set); brain-mask Dice 0.969-0.980 against 0.875-0.957; intracranial volume ratios overlap (one head up to
1.15, a FLAIR-only estimate; different patients from 1.00). The thresholds sit nearer the different heads: refusing
a real follow-up costs more than letting two similar heads through, and the ratio and the Dice catch only gross
mismatches."""


def head_problems(match: HeadMatch, name: str) -> list[str]:
    """Why study `name` cannot be the baseline's head, from its `HeadMatch`; empty when it can."""
    problems = []
    if match.icv_ratio > MAX_ICV_RATIO:
        problems.append(f"{name}'s intracranial volume differs from the baseline's by a factor {match.icv_ratio:.2f}")
    if match.brain_dice < MIN_BRAIN_DICE:
        problems.append(f"{name}'s brain overlaps the baseline's poorly once aligned (Dice {match.brain_dice:.2f})")
    if match.nmi < MIN_SAME_HEAD_NMI:
        problems.append(f"{name} and the baseline look alike poorly once aligned (NMI {match.nmi:.3f})")
    return problems


def same_head_figures(flairs: list[Volume], brain_masks: list[LabelVolume], intracranial_volumes_mm3: list[float],
                      config: AlignmentConfig) -> HeadMatch:
    """Align two studies as the follow-up does and return their `HeadMatch` (for benchmarks/same_head.py)."""
    masks = [resample(m, Grid.of(f)) for f, m in zip(flairs, brain_masks, strict=True)]
    return match_heads(align_studies(flairs, masks, config), masks, intracranial_volumes_mm3, 1)


def study_labels(inputs: list[StudyInputs], labels: list[str] | None) -> list[str]:
    """Folder names of the studies: given labels, BIDS session names, or study1, study2, ..."""
    if labels:
        if len(labels) != len(inputs):
            raise ConfigError(f"{len(labels)} labels given for {len(inputs)} studies; give one per study or none")
        chosen = labels
    else:
        sessions = [p.flair.parent.parent.name for p in inputs]
        chosen = sessions if all(s.startswith("ses-") for s in sessions) else [
            f"study{i + 1}" for i in range(len(inputs))]
    bad = [c for c in chosen if not c or "/" in c or c.startswith(".") or c == COMMON_DIR]
    if bad or len(set(chosen)) != len(chosen):
        raise ConfigError(f"study labels {chosen}: expected distinct folder names (no '/', not '{COMMON_DIR}')")
    return chosen


def common_sequences(inputs: list[StudyInputs]) -> list[StudyInputs]:
    """Keep only the sequences every study has: a T1 in one study only would make the segmentations differ."""
    shared = set.intersection(*(set(i.paths()) for i in inputs))
    dropped = sorted(set().union(*(set(i.paths()) for i in inputs)) - shared)
    if dropped:
        log.warning("sequences %s are not in every study; they are left out of the follow-up", ", ".join(dropped))
    def keep(path: Path | None, name: str) -> Path | None:
        return None if name in dropped else path

    return [StudyInputs(i.flair, t1=keep(i.t1, "t1"), t2=keep(i.t2, "t2"), pd=keep(i.pd, "pd"), series=i.series)
            for i in inputs]


def run_followup(inputs: list[StudyInputs], out_dir: Path, preprocessing: PreprocessingConfig,
                 segmentation: SegmentationConfig, followup: LongitudinalConfig, options: RunOptions,
                 labels: list[str] | None = None) -> Path:
    """Analyse two or more studies of one patient (in time order) and write the follow-up folder atomically.

    Raises:
        ConfigError: fewer than two studies, or bad labels.
        OutputExistsError, and the input errors of `segment`: nothing is written then.
    """
    if len(inputs) < 2:
        raise ConfigError(f"a follow-up needs at least two studies, got {len(inputs)}")
    flairs = [Path(i.flair).resolve() for i in inputs]
    repeated = sorted({str(f) for f in flairs if flairs.count(f) > 1})
    if repeated:
        raise ConfigError(f"{repeated[0]}: the same FLAIR is given for two studies; a follow-up compares different "
                          "studies of one patient")
    names = study_labels(inputs, labels)
    inputs = common_sequences(inputs)
    studies = [load_study(i) for i in inputs]  # every study read and checked before any is analysed
    out_dir = Path(out_dir)
    check_output_folder(out_dir, options.force)
    scorer = load_scorer(segmentation.method, segmentation.model, segmentation.threshold,
                         segmentation.min_lesion_volume_mm3)
    with output_folder(out_dir, options) as stage:
        total = len(inputs) * len(ANALYSIS_STAGES) + 2
        with stage_progress("follow-up", total, options.progress, options.on_stage) as bar:
            analyses = [analyse_study(i, preprocessing, scorer, segmentation, bar, study=study,
                                      refuse_implausible=not options.accept_implausible)
                        for i, study in zip(inputs, studies, strict=True)]
            bar.stage("align and compare")
            start = time.perf_counter()
            masks = registration_masks(analyses)
            # the studies' lesions come from the joint analysis of their probabilities, not each study's own mask
            space, result = joint_analysis(analyses, followup, masks, scorer.postprocessing)
            joint_s = round(time.perf_counter() - start, 3)
            warnings = _check_one_head(analyses, space, masks, names, inputs,
                                       refuse=not options.accept_implausible)
            bar.stage("write")
            outputs, summaries = _write(stage, names, analyses, space, result, segmentation, options,
                                        warnings)
        provenance = build_provenance(
            command="followup", inputs={f"{n}_{k}": p for n, i in zip(names, inputs, strict=True)
                                        for k, p in i.paths().items()},
            config={"preprocessing": config_dict(preprocessing), "segmentation": config_dict(segmentation),
                    "followup": config_dict(followup)},
            timings_s={**{f"{n}_{k}": v for n, a in zip(names, analyses, strict=True)
                          for k, v in a.timings_s.items()}, "joint_analysis": joint_s},
            outputs=outputs,
            extra={"model": model_provenance(scorer), "common_space": space.kind,
                   "dicom_series": {n: a.study.dicom for n, a in zip(names, analyses, strict=True)},
                   "intervals": [i.as_dict() for i in result.intervals], "studies": summaries},
            hide_paths_under=options.hide_paths_under,
        )
        write_json_atomically(stage / PROVENANCE_NAME, provenance)
        if options.report:  # inside the staged folder: an interrupted report leaves no half-drawn results
            write_report_after_analysis(stage, out_dir)
    for name, interval in zip(names[1:], result.intervals, strict=True):
        log.info("%s: %d new, %d enlarging, %d shrinking, %d resolved; volume change %+.0f mm3",
                 name, interval.new_count, interval.enlarging_count, interval.shrinking_count,
                 interval.resolved_count, interval.volume_change_mm3)
    return out_dir


def _check_one_head(analyses: list[StudyAnalysis], space: CommonSpace, masks: list[LabelVolume], names: list[str],
                    inputs: list[StudyInputs], *, refuse: bool) -> list[str]:
    """Refuse (or, without `refuse`, return as warnings) the reasons the studies cannot be one head."""
    icvs = [a.regions.intracranial_volume_mm3 for a in analyses]
    problems = [p for i in range(1, len(analyses)) for p in head_problems(match_heads(space, masks, icvs, i), names[i])]
    if problems and refuse:
        raise ImplausibleInputError(
            f"{inputs[0].flair} and the later studies: {problems[0]}; they look like two different people. Check "
            "the studies; --force compares them anyway and records the warning.")
    return [f"implausible input, compared with --force: {p}" for p in problems]


def _write(folder: Path, names: list[str], analyses: list[StudyAnalysis], space: CommonSpace,
           result: LongitudinalResult, segmentation: SegmentationConfig,
           options: RunOptions, warnings: list[str]) -> tuple[dict[str, str], dict[str, object]]:
    outputs: dict[str, str] = {}
    summaries: dict[str, object] = {}
    common = folder / COMMON_DIR
    common.mkdir()
    for i, (name, analysis) in enumerate(zip(names, analyses, strict=True)):
        sub = folder / name
        sub.mkdir()
        ids_native = _to_native(result.lesion_ids[i], analysis, space, i)
        written, summary = write_study_results(analysis, sub, ids_native, segmentation.locations,
                                               intermediates=options.write_intermediates)
        write_nifti(_to_native(result.change_maps[i], analysis, space, i), sub / CHANGE_MAP_NAME)
        written[CHANGE_MAP_NAME] = NATIVE
        outputs.update({f"{name}/{k}": v for k, v in written.items()})
        summaries[name] = summary.as_dict()
        # what a reader looks at: the study's bias-corrected FLAIR (anatomy, black background), not the
        # normalised image the change analysis compares
        display = _to_common(analysis.pre.bias_corrected_flair, space, i)
        for kind, image in (("flair", display), ("lesion_labels", result.lesion_ids[i]),
                            ("change_map", result.change_maps[i])):
            fname = common_name(kind, name)
            write_nifti(image, common / fname)
            outputs[f"{COMMON_DIR}/{fname}"] = f"common space ({space.kind})"
    rows = []
    for track in result.tracks:
        row: dict[str, object] = {"lesion_id": track.lesion_id}
        row.update({f"volume_mm3_{n}": v for n, v in zip(names, track.volumes_mm3, strict=True)})
        for t in range(1, len(names)):
            key = f"{names[t - 1]}_to_{names[t]}"
            row[f"change_{key}"] = track.changes[t - 1]
            row[f"merged_{key}"] = track.merged[t - 1]
            row[f"split_{key}"] = track.split[t - 1]
        rows.append(row)
    columns = ["lesion_id", *[f"volume_mm3_{n}" for n in names]]
    for t in range(1, len(names)):
        key = f"{names[t - 1]}_to_{names[t]}"
        columns += [f"change_{key}", f"merged_{key}", f"split_{key}"]
    outputs.update(write_table(rows, columns, folder, CHANGE_TABLE_NAME))
    intervals = []
    for t, interval in enumerate(result.intervals, start=1):
        intervals.append({**interval.as_dict(), "interval": f"{names[t - 1]} -> {names[t]}"})
    write_json_atomically(folder / SUMMARY_NAME, {
        "studies": names, "common_space": space.kind, "intervals": intervals, "per_study": summaries,
        "change_map_labels": CHANGE_LABELS, "qc_warnings": warnings,
    })
    write_json_atomically(folder / TRANSFORMS_NAME, {
        "common_space": space.kind,
        "common_to_study_ras": {n: m.round(6).tolist() for n, m in zip(names, space.common_to_study, strict=True)},
        "registration_to_baseline": {
            n: {"normalized_mutual_information": round(r.normalized_mutual_information, 4),
                "normalized_mutual_information_before": round(r.initial_normalized_mutual_information, 4),
                "alignment_sharpness": round(r.sharpness, 4)}
            for n, r in zip(names[1:], space.registrations, strict=True)},
    })
    outputs[SUMMARY_NAME] = "follow-up summary"
    outputs[TRANSFORMS_NAME] = "common-space transforms"
    return outputs, summaries
