"""The segment workflow: preprocess a study, score lesions, write probability and mask in the native FLAIR grid."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lesionwatch.atlas.regions import RegionConfig, RegionMap, map_regions
from lesionwatch.errors import ImplausibleInputError
from lesionwatch.inference.classical import ClassicalConfig
from lesionwatch.inference.postprocessing import lesion_mask
from lesionwatch.inference.predictor import LesionScorer, load_scorer, model_provenance, score_lesions
from lesionwatch.io.atomic import write_json_atomically
from lesionwatch.io.nifti import write_nifti
from lesionwatch.io.study import Study, StudyInputs, load_study
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.lesions.components import label_lesions
from lesionwatch.lesions.locations import LocationConfig
from lesionwatch.lesions.table import LesionSummary, LesionTable, lesion_table, summarize
from lesionwatch.preprocessing.pipeline import STAGES, PreprocessedStudy, PreprocessingConfig, preprocess
from lesionwatch.workflows.layout import (
    LABELS_NAME,
    MASK_NAME,
    PROBABILITY_NAME,
    PROVENANCE_NAME,
    REGIONS_NAME,
    SUMMARY_NAME,
)
from lesionwatch.workflows.preprocess import (
    NATIVE,
    RunOptions,
    check_output_folder,
    output_folder,
    preprocessing_qc,
    write_preprocessed,
)
from lesionwatch.workflows.progress import StageProgress, stage_progress
from lesionwatch.workflows.provenance import build_provenance, config_dict
from lesionwatch.workflows.qc import contrast_problems, qc_warnings
from lesionwatch.workflows.report import write_report_after_analysis
from lesionwatch.workflows.tables import write_lesion_table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentationConfig:
    """How lesions are segmented.

    Attributes:
        method: "model" (a trained network, the default) or "classical" (the FLAIR-threshold baseline).
        model: installed model name or model folder, for method "model".
        threshold: probability at or above which a native voxel is lesion (the sensitivity control);
            None takes the model card's value, 0.5 for the classical method.
        min_lesion_volume_mm3: connected lesions smaller than this are dropped; None takes the card's value.
        flip_tta: average with the prediction on the left-right mirrored image.
        classical: settings of the classical method.
        regions: how the anatomical regions are brought to the patient.
        locations: the distances lesion location classes are read by.
    """

    method: str = "model"
    model: str = "default"
    threshold: float | None = None
    min_lesion_volume_mm3: float | None = None
    flip_tta: bool = False
    classical: ClassicalConfig = field(default_factory=ClassicalConfig)
    regions: RegionConfig = field(default_factory=RegionConfig)
    locations: LocationConfig = field(default_factory=LocationConfig)


@dataclass(frozen=True)
class StudyAnalysis:
    """One study, preprocessed and segmented, in memory.

    Attributes:
        study: the images as read.
        pre: the preprocessed study (working grid and the way back to the native grid).
        probability: lesion probability on the working grid.
        native_probability: the same on the native FLAIR grid, with the FLAIR's header.
        native_mask: thresholded native probability without lesions below the minimum volume.
        regions: anatomical regions on the working grid (for location classes and volumes).
        native_regions: the same labels on the native FLAIR grid (lesion locations, the written map).
        timings_s: seconds per stage.
        implausible: why the input cannot be what it claims (analysed anyway, with --force); recorded as QC
            warnings.
    """

    study: Study
    pre: PreprocessedStudy
    probability: Volume
    native_probability: Volume
    native_mask: LabelVolume
    regions: RegionMap
    native_regions: LabelVolume
    timings_s: dict[str, float]
    implausible: tuple[str, ...] = ()


ANALYSIS_STAGES = ("read", *STAGES, "regions", "segment")


def analyse_study(inputs: StudyInputs, preprocessing: PreprocessingConfig, scorer: LesionScorer,
                  segmentation: SegmentationConfig, bar: StageProgress | None = None, *,
                  refuse_implausible: bool = True, study: Study | None = None) -> StudyAnalysis:
    """Read (unless `study` was read already), preprocess and segment one study, and map its anatomical regions
    (stages `ANALYSIS_STAGES`).

    Raises:
        ImplausibleInputError: the FLAIR's tissue contrast is not a FLAIR's (`workflows.qc.contrast_problems`)
            and `refuse_implausible` is set; otherwise the problem is kept in `StudyAnalysis.implausible`.
    """
    def stage(name: str) -> None:
        if bar is not None:
            bar.stage(name)

    stage("read")
    study = load_study(inputs) if study is None else study
    pre = preprocess(study, preprocessing, on_stage=stage)
    stage("regions")
    start = time.perf_counter()
    reference = pre.channels.get("t1", pre.channels["flair"])
    regions = map_regions(reference, pre.brain_mask, segmentation.regions, flair=pre.channels["flair"])
    timings = {**pre.timings_s, "regions": round(time.perf_counter() - start, 3)}
    implausible = tuple(contrast_problems(regions.flair_tissue_z))
    if implausible and refuse_implausible:
        raise ImplausibleInputError(f"{inputs.flair}: {implausible[0]}. Check which file was passed as the FLAIR; "
                                    "--force analyses it anyway and records the warning.")
    stage("segment")
    start = time.perf_counter()
    score = score_lesions(pre, scorer, flip_tta=segmentation.flip_tta, classical=segmentation.classical)
    native_prob = pre.to_native(score)
    mask = lesion_mask(native_prob, scorer.postprocessing)
    native_regions = pre.to_native(regions.regions)
    timings["segment"] = round(time.perf_counter() - start, 3)
    return StudyAnalysis(study, pre, score, native_prob, mask, regions, native_regions, timings, implausible)


def measure_lesions(analysis: StudyAnalysis, lesion_ids: LabelVolume, config: LocationConfig
                    ) -> tuple[LesionTable, LesionSummary]:
    """Lesion table and summary of a native-grid lesion id map."""
    pre = analysis.pre
    native_regions = analysis.native_regions
    t1 = pre.native_channel("t1") if "t1" in pre.channels else None
    table = lesion_table(lesion_ids, native_regions, flair=pre.native_channel("flair"), t1=t1,
                         probability=analysis.native_probability, config=config)
    regions_native = RegionMap(native_regions, analysis.regions.intracranial_volume_mm3,
                               analysis.regions.patient_to_template, analysis.regions.flair_tissue_z)
    summary = summarize(table, regions_native, pre.native_brain_mask)
    return table, summary


def write_study_results(analysis: StudyAnalysis, folder: Path, lesion_ids: LabelVolume, config: LocationConfig,
                        *, intermediates: bool) -> tuple[dict[str, str], LesionSummary]:
    """Write one study's native-grid images, lesion table and summary into `folder`; return file -> space."""
    table, summary = measure_lesions(analysis, lesion_ids, config)
    warnings = [f"implausible input, analysed with --force: {p}" for p in analysis.implausible]
    warnings += qc_warnings(analysis.pre, table)
    for warning in warnings:
        log.warning("QC: %s", warning)
    outputs = write_preprocessed(analysis.pre, folder, intermediates=intermediates)
    write_nifti(analysis.native_probability, folder / PROBABILITY_NAME)
    write_nifti(lesion_ids.with_array((lesion_ids.array > 0).astype(np.uint8)), folder / MASK_NAME)
    write_nifti(lesion_ids.with_array(lesion_ids.array.astype(np.int32)), folder / LABELS_NAME)
    write_nifti(analysis.native_regions, folder / REGIONS_NAME)
    outputs.update({name: NATIVE for name in (PROBABILITY_NAME, MASK_NAME, LABELS_NAME, REGIONS_NAME)})
    outputs.update(write_lesion_table(table, folder))
    write_json_atomically(folder / SUMMARY_NAME, {**summary.as_dict(), "qc_warnings": warnings,
                                                  "qc": preprocessing_qc(analysis.pre)})
    outputs[SUMMARY_NAME] = "study summary (volumes in mm3)"
    return outputs, summary


def run_segment(inputs: StudyInputs, out_dir: Path, preprocessing: PreprocessingConfig,
                segmentation: SegmentationConfig, options: RunOptions) -> Path:
    """Segment one study and write its output folder atomically; return the folder."""
    out_dir = Path(out_dir)
    check_output_folder(out_dir, options.force)
    scorer = load_scorer(segmentation.method, segmentation.model, segmentation.threshold,
                         segmentation.min_lesion_volume_mm3)  # a bad model fails before any work
    with output_folder(out_dir, options) as stage:
        with stage_progress("segment", len(ANALYSIS_STAGES) + 1, options.progress, options.on_stage) as bar:
            analysis = analyse_study(inputs, preprocessing, scorer, segmentation, bar,
                                     refuse_implausible=not options.accept_implausible)
            bar.stage("write")
            ids, _ = label_lesions(analysis.native_mask.mask)
            outputs, summary = write_study_results(analysis, stage, analysis.native_mask.with_array(ids),
                                                   segmentation.locations, intermediates=options.write_intermediates)
        log.info("%d lesions, %.0f mm3", summary.lesion_count, summary.lesion_volume_mm3)
        provenance = build_provenance(
            command="segment", inputs=inputs.paths(),
            config={"preprocessing": config_dict(preprocessing), "segmentation": config_dict(segmentation)},
            timings_s=analysis.timings_s, outputs=outputs,
            extra={"qc": preprocessing_qc(analysis.pre), "summary": summary.as_dict(),
                   "model": model_provenance(scorer), "dicom_series": analysis.study.dicom,
                   # the region map's registration (patient world -> MNI world)
                   "patient_to_template": np.round(analysis.regions.patient_to_template, 6).tolist()},
            hide_paths_under=options.hide_paths_under,
        )
        write_json_atomically(stage / PROVENANCE_NAME, provenance)
        if options.report:  # inside the staged folder: an interrupted report leaves no half-drawn results
            write_report_after_analysis(stage, out_dir)
    return out_dir
