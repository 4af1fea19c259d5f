"""The segment workflow: preprocess a study, score lesions, write probability and mask in the native FLAIR grid."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lesionwatch.errors import ConfigError, ImplausibleInputError
from lesionwatch.inference.classical import ClassicalConfig, flair_hyperintensity_score
from lesionwatch.inference.sliding_window import choose_device, configure_threads, predict_probability
from lesionwatch.io.atomic import write_json_atomically
from lesionwatch.io.nifti import write_nifti
from lesionwatch.io.study import Study, StudyInputs, load_study
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.lesions.components import faint_lesions, grow_lesions, label_lesions, lesion_mask
from lesionwatch.lesions.locations import CORTEX, RegionConfig, RegionMap, map_regions, midline_lesions
from lesionwatch.lesions.table import LesionSummary, LesionTable, lesion_table, summarize
from lesionwatch.models.card import ModelCard, load_model, resolve_model_dir
from lesionwatch.preprocessing.normalization import NormalizationConfig, normalize_intensity
from lesionwatch.preprocessing.pipeline import STAGES, PreprocessedStudy, PreprocessingConfig, preprocess
from lesionwatch.workflows.preprocess import (
    NATIVE,
    PROVENANCE_NAME,
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

MASK_NAME = "lesion_mask_space-native.nii.gz"
PROBABILITY_NAME = "lesion_probability_space-native.nii.gz"
LABELS_NAME = "lesion_labels_space-native.nii.gz"
REGIONS_NAME = "regions_space-native.nii.gz"
GROWTH_REGION_NAME = "lesion_growth_region_space-native.nii.gz"
SUMMARY_NAME = "summary.json"


@dataclass(frozen=True)
class SegmentationConfig:
    """How lesions are segmented.

    Attributes:
        method: "model" (a trained network, the default) or "classical" (the FLAIR-threshold baseline).
        model: installed model name or model folder, for method "model".
        threshold: probability at or above which a native voxel is lesion (the sensitivity control);
            None takes the model card's value (chosen on validation data), 0.5 for the classical method.
        min_lesion_volume_mm3: connected lesions smaller than this are dropped; None takes the card's value.
        flip_tta: average with the prediction on the left-right mirrored image.
        grow: grow the network's lesions over the connected voxels that the classical rule calls lesion
            (FLAIR-hyperintense in the eroded brain, not bright on T1; `classical` sets it), outside the cortex of
            the region map: the network finds lesions, the FLAIR draws their edges, which matters on scanners
            unlike the training data.
        midline_mm: after growth, drop the network's lesions lying mostly within this distance of the template's
            mid-sagittal plane and mostly outside its white matter and infratentorial brain (interhemispheric cortex,
            septum pellucidum, fornix: `lesions.locations.midline_lesions`); 0 keeps them.
        min_focal_contrast: after the midline step, drop the network's lesions of at most
            `focal_contrast_max_volume_mm3` whose median FLAIR exceeds that of the brain within 2 mm around them by
            less than this many robust SDs of the brain's FLAIR (`lesions.components.faint_lesions`; the FLAIR is the
            native bias-corrected one, normalised in the native brain mask); 0 keeps them.
        focal_contrast_max_volume_mm3: larger lesions are never dropped for their contrast.
        classical: settings of the classical method (and of the region lesions are grown over).
        regions: how anatomical regions and lesion location classes are found.
    """

    method: str = "model"
    model: str = "default"
    threshold: float | None = None
    min_lesion_volume_mm3: float | None = None
    flip_tta: bool = False
    grow: bool = True
    midline_mm: float = 5.0
    min_focal_contrast: float = 0.5
    focal_contrast_max_volume_mm3: float = 100.0
    classical: ClassicalConfig = field(default_factory=ClassicalConfig)
    regions: RegionConfig = field(default_factory=RegionConfig)


@dataclass(frozen=True)
class LesionScorer:
    """A loaded segmenter: the network and its card, or the classical method."""

    name: str
    version: str
    threshold: float
    min_lesion_volume_mm3: float
    net: Any = None
    card: ModelCard | None = None
    sha256: str | None = None


def load_scorer(config: SegmentationConfig) -> LesionScorer:
    """Load the model named in `config` (verifying its sha256), or set up the classical method."""
    if config.method == "classical":
        return LesionScorer("classical-flair-threshold", "1", config.threshold if config.threshold is not None else 0.5,
                            config.min_lesion_volume_mm3 if config.min_lesion_volume_mm3 is not None else 5.0)
    if config.method != "model":
        raise ConfigError(f"segmentation method {config.method!r}: expected model or classical")
    configure_threads()
    net, card = load_model(resolve_model_dir(config.model), choose_device())
    return LesionScorer(card.name, card.version,
                        config.threshold if config.threshold is not None else card.threshold,
                        config.min_lesion_volume_mm3 if config.min_lesion_volume_mm3 is not None
                        else card.min_lesion_volume_mm3, net, card, card.weights_sha256)


def score_lesions(pre: PreprocessedStudy, scorer: LesionScorer, config: SegmentationConfig) -> Volume:
    """Lesion probability on the working grid."""
    if scorer.net is None or scorer.card is None:
        return flair_hyperintensity_score(pre.channels, pre.brain_mask, config.classical)
    shape = pre.brain_mask.shape
    channels = np.stack([pre.channels[n].array if n in pre.channels else np.zeros(shape, np.float32)
                         for n in scorer.card.inputs])
    device = next(scorer.net.parameters()).device.type
    prob = predict_probability(scorer.net, channels, scorer.card.patch_size, flip_tta=config.flip_tta,
                               device=device)
    return pre.channels["flair"].with_array(np.where(pre.brain_mask.mask, prob, 0.0))


@dataclass(frozen=True)
class StudyAnalysis:
    """One study, preprocessed and segmented, in memory.

    Attributes:
        study: the images as read.
        pre: the preprocessed study (working grid and the way back to the native grid).
        probability: lesion probability on the working grid.
        native_probability: the same on the native FLAIR grid, with the FLAIR's header.
        native_mask: thresholded native probability without lesions below the minimum volume, grown over
            `growth_region` when there is one, without the midline and faint small lesions (model method).
        growth_region: native voxels the lesions could grow over (None when not grown).
        regions: anatomical regions on the working grid (for location classes and volumes).
        native_regions: the same labels on the native FLAIR grid (lesion locations, growth, the written map).
        timings_s: seconds per stage.
        implausible: why the input cannot be what it claims (analysed anyway, with --force); recorded as QC
            warnings.
    """

    study: Study
    pre: PreprocessedStudy
    probability: Volume
    native_probability: Volume
    native_mask: LabelVolume
    growth_region: LabelVolume | None
    regions: RegionMap
    native_regions: LabelVolume
    timings_s: dict[str, float]
    implausible: tuple[str, ...] = ()


ANALYSIS_STAGES = ("read", *STAGES, "regions", "segment")


def growth_region(pre: PreprocessedStudy, native_regions: LabelVolume, config: ClassicalConfig) -> LabelVolume:
    """Native voxels lesions may grow over: those the classical rule calls lesion (its working-grid score mapped to
    the native grid, >= 0.5) outside the cortex of the native region map (FLAIR-bright cortex is not white-matter
    lesion)."""
    score = pre.to_native(flair_hyperintensity_score(pre.channels, pre.brain_mask, config))
    return score.as_labels(((score.array >= 0.5) & (native_regions.array != CORTEX)).astype(np.uint8))


def native_focal_flair(pre: PreprocessedStudy) -> Volume:
    """The FLAIR the focal-contrast step reads: bias-corrected on the native grid (as written to the output folder),
    robust z-score inside the native brain mask (so the accuracy benchmark can redo the step from the files)."""
    return normalize_intensity(pre.native_bias_corrected_flair, pre.native_brain_mask, NormalizationConfig())


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
    score = score_lesions(pre, scorer, segmentation)
    native_prob = pre.to_native(score)
    mask = lesion_mask(native_prob, scorer.threshold, scorer.min_lesion_volume_mm3)
    native_regions = pre.to_native(regions.regions)
    timings["segment"] = round(time.perf_counter() - start, 3)
    region = None
    if segmentation.grow and scorer.net is not None:
        start = time.perf_counter()
        region = growth_region(pre, native_regions, segmentation.classical)
        mask = grow_lesions(mask, region)
        timings["grow"] = round(time.perf_counter() - start, 3)
    if segmentation.midline_mm > 0 and scorer.net is not None:
        start = time.perf_counter()
        midline = midline_lesions(mask, native_regions, regions.patient_to_template, segmentation.midline_mm)
        if midline.any():
            log.info("%d mm3 of midline lesions outside the white matter dropped (interhemispheric cortex, septum)",
                     round(float(midline.sum()) * mask.voxel_volume_mm3))
            mask = mask.with_array((mask.mask & ~midline).astype(np.uint8))
        timings["midline"] = round(time.perf_counter() - start, 3)
    if segmentation.min_focal_contrast > 0 and scorer.net is not None:
        start = time.perf_counter()
        faint = faint_lesions(mask, native_focal_flair(pre), pre.native_brain_mask, segmentation.min_focal_contrast,
                              segmentation.focal_contrast_max_volume_mm3)
        if faint.any():
            log.info("%d small lesions (%d mm3) dropped: FLAIR less than %.2g robust SDs above their surroundings",
                     label_lesions(faint)[1], round(float(faint.sum()) * mask.voxel_volume_mm3),
                     segmentation.min_focal_contrast)
            mask = mask.with_array((mask.mask & ~faint).astype(np.uint8))
        timings["focal_contrast"] = round(time.perf_counter() - start, 3)
    return StudyAnalysis(study, pre, score, native_prob, mask, region, regions, native_regions, timings,
                         implausible)


def measure_lesions(analysis: StudyAnalysis, lesion_ids: LabelVolume, config: RegionConfig
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


def write_study_results(analysis: StudyAnalysis, folder: Path, lesion_ids: LabelVolume, config: RegionConfig,
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
    if analysis.growth_region is not None:
        write_nifti(analysis.growth_region, folder / GROWTH_REGION_NAME, dtype=np.uint8)
        outputs[GROWTH_REGION_NAME] = NATIVE
    outputs.update(write_lesion_table(table, folder))
    write_json_atomically(folder / SUMMARY_NAME, {**summary.as_dict(), "qc_warnings": warnings,
                                                  "qc": preprocessing_qc(analysis.pre)})
    outputs[SUMMARY_NAME] = "study summary (volumes in mm3)"
    return outputs, summary


def model_provenance(scorer: LesionScorer) -> dict[str, object]:
    """What provenance records of the segmenter."""
    return {"name": scorer.name, "version": scorer.version, "sha256": scorer.sha256, "threshold": scorer.threshold,
            "min_lesion_volume_mm3": scorer.min_lesion_volume_mm3}


def run_segment(inputs: StudyInputs, out_dir: Path, preprocessing: PreprocessingConfig,
                segmentation: SegmentationConfig, options: RunOptions) -> Path:
    """Segment one study and write its output folder atomically; return the folder."""
    out_dir = Path(out_dir)
    check_output_folder(out_dir, options.force)
    scorer = load_scorer(segmentation)  # a bad model fails before any work
    with output_folder(out_dir, options) as stage:
        with stage_progress("segment", len(ANALYSIS_STAGES) + 1, options.progress, options.on_stage) as bar:
            analysis = analyse_study(inputs, preprocessing, scorer, segmentation, bar,
                                     refuse_implausible=not options.accept_implausible)
            bar.stage("write")
            ids, _ = label_lesions(analysis.native_mask.mask)
            outputs, summary = write_study_results(analysis, stage, analysis.native_mask.with_array(ids),
                                                   segmentation.regions, intermediates=options.write_intermediates)
        log.info("%d lesions, %.0f mm3", summary.lesion_count, summary.lesion_volume_mm3)
        provenance = build_provenance(
            command="segment", inputs=inputs.paths(),
            config={"preprocessing": config_dict(preprocessing), "segmentation": config_dict(segmentation)},
            timings_s=analysis.timings_s, outputs=outputs,
            extra={"qc": preprocessing_qc(analysis.pre), "summary": summary.as_dict(),
                   "model": model_provenance(scorer), "dicom_series": analysis.study.dicom,
                   # the region map's registration (patient world -> MNI world), which places the midline
                   "patient_to_template": np.round(analysis.regions.patient_to_template, 6).tolist()},
            hide_paths_under=options.hide_paths_under,
        )
        write_json_atomically(stage / PROVENANCE_NAME, provenance)
        if options.report:  # inside the staged folder: an interrupted report leaves no half-drawn results
            write_report_after_analysis(stage, out_dir)
    return out_dir
