"""The segment workflow: preprocess a study, score lesions, write probability and mask in the native FLAIR grid."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lesionwatch.inference.classical import ClassicalConfig, flair_hyperintensity_score
from lesionwatch.io.atomic import staged_directory, write_json_atomically
from lesionwatch.io.nifti import write_nifti
from lesionwatch.io.study import StudyInputs, load_study
from lesionwatch.lesions.components import label_lesions, remove_small_lesions
from lesionwatch.logging import add_file_log
from lesionwatch.preprocessing.pipeline import STAGES, PreprocessingConfig, preprocess
from lesionwatch.workflows.preprocess import (
    LOG_NAME,
    PROVENANCE_NAME,
    RunOptions,
    check_output_folder,
    preprocessing_qc,
    write_preprocessed,
)
from lesionwatch.workflows.progress import stage_progress
from lesionwatch.workflows.provenance import build_provenance, config_dict

log = logging.getLogger(__name__)

MASK_NAME = "lesion_mask_space-native.nii.gz"
PROBABILITY_NAME = "lesion_probability_space-native.nii.gz"


@dataclass(frozen=True)
class SegmentationConfig:
    """How lesions are segmented.

    Attributes:
        method: "classical" (FLAIR hyperintensity baseline; the only method until the trained model lands).
        threshold: probability at or above which a native voxel is lesion (the sensitivity control).
        min_lesion_volume_mm3: connected lesions smaller than this are dropped.
        classical: settings of the classical method.
    """

    method: str = "classical"
    threshold: float = 0.5
    min_lesion_volume_mm3: float = 5.0
    classical: ClassicalConfig = field(default_factory=ClassicalConfig)


def run_segment(inputs: StudyInputs, out_dir: Path, preprocessing: PreprocessingConfig,
                segmentation: SegmentationConfig, options: RunOptions) -> Path:
    """Segment one study and write its output folder atomically; return the folder."""
    out_dir = Path(out_dir)
    check_output_folder(out_dir, options.force)
    with staged_directory(out_dir, overwrite=options.force) as stage:
        handler = add_file_log(stage / LOG_NAME)
        try:
            with stage_progress("segment", len(STAGES) + 3, options.progress) as bar:
                bar.stage("read")
                study = load_study(inputs)
                pre = preprocess(study, preprocessing, on_stage=bar.stage)
                bar.stage("segment")
                start = time.perf_counter()
                score = flair_hyperintensity_score(pre.channels, pre.brain_mask, segmentation.classical)
                native_prob = pre.to_native(score)
                mask = pre.native_labels_from_probability(score, segmentation.threshold)
                kept = remove_small_lesions(mask.mask, mask.voxel_volume_mm3, segmentation.min_lesion_volume_mm3)
                mask = mask.with_array(kept.astype(np.uint8))
                timings = {**pre.timings_s, "segment": round(time.perf_counter() - start, 3)}
                bar.stage("write")
                outputs = write_preprocessed(pre, stage, intermediates=options.write_intermediates)
                write_nifti(native_prob, stage / PROBABILITY_NAME)
                write_nifti(mask, stage / MASK_NAME)
                outputs[PROBABILITY_NAME] = "native FLAIR grid (FLAIR header)"
                outputs[MASK_NAME] = "native FLAIR grid (FLAIR header)"
            _, n_lesions = label_lesions(mask.mask)
            summary = {"lesion_count": n_lesions, "lesion_volume_mm3": round(mask.volume_mm3, 1)}
            log.info("%d lesions, %.0f mm3", n_lesions, mask.volume_mm3)
            provenance = build_provenance(
                command="segment", inputs=inputs.paths(),
                config={"preprocessing": config_dict(preprocessing), "segmentation": config_dict(segmentation)},
                timings_s=timings, outputs=outputs,
                extra={"qc": preprocessing_qc(pre), "summary": summary,
                       "model": {"name": "classical-flair-threshold", "version": "1"}},
            )
            write_json_atomically(stage / PROVENANCE_NAME, provenance)
        finally:
            logging.getLogger("lesionwatch").removeHandler(handler)
            handler.close()
    return out_dir
