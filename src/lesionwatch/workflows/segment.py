"""The segment workflow: preprocess a study, score lesions, write probability and mask in the native FLAIR grid."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lesionwatch.errors import ConfigError
from lesionwatch.inference.classical import ClassicalConfig, flair_hyperintensity_score
from lesionwatch.inference.sliding_window import choose_device, configure_threads, predict_probability
from lesionwatch.io.atomic import write_json_atomically
from lesionwatch.io.nifti import write_nifti
from lesionwatch.io.study import StudyInputs, load_study
from lesionwatch.io.volume import Volume
from lesionwatch.lesions.components import label_lesions, remove_small_lesions
from lesionwatch.models.card import ModelCard, load_model, resolve_model_dir
from lesionwatch.preprocessing.pipeline import STAGES, PreprocessedStudy, PreprocessingConfig, preprocess
from lesionwatch.workflows.preprocess import (
    PROVENANCE_NAME,
    RunOptions,
    check_output_folder,
    output_folder,
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
        method: "model" (a trained network, the default) or "classical" (the FLAIR-threshold baseline).
        model: installed model name or model folder, for method "model".
        threshold: probability at or above which a native voxel is lesion (the sensitivity control);
            None takes the model card's value (chosen on validation data), 0.5 for the classical method.
        min_lesion_volume_mm3: connected lesions smaller than this are dropped; None takes the card's value.
        flip_tta: average with the prediction on the left-right mirrored image.
        classical: settings of the classical method.
    """

    method: str = "model"
    model: str = "default"
    threshold: float | None = None
    min_lesion_volume_mm3: float | None = None
    flip_tta: bool = False
    classical: ClassicalConfig = field(default_factory=ClassicalConfig)


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


def run_segment(inputs: StudyInputs, out_dir: Path, preprocessing: PreprocessingConfig,
                segmentation: SegmentationConfig, options: RunOptions) -> Path:
    """Segment one study and write its output folder atomically; return the folder."""
    out_dir = Path(out_dir)
    check_output_folder(out_dir, options.force)
    scorer = load_scorer(segmentation)  # a bad model fails before any work
    with output_folder(out_dir, options) as stage:
        with stage_progress("segment", len(STAGES) + 3, options.progress) as bar:
            bar.stage("read")
            study = load_study(inputs)
            pre = preprocess(study, preprocessing, on_stage=bar.stage)
            bar.stage("segment")
            start = time.perf_counter()
            score = score_lesions(pre, scorer, segmentation)
            native_prob = pre.to_native(score)
            mask = native_prob.as_labels((native_prob.array >= scorer.threshold).astype(np.uint8))
            kept = remove_small_lesions(mask.mask, mask.voxel_volume_mm3, scorer.min_lesion_volume_mm3)
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
                   "model": {"name": scorer.name, "version": scorer.version, "sha256": scorer.sha256,
                             "threshold": scorer.threshold,
                             "min_lesion_volume_mm3": scorer.min_lesion_volume_mm3}},
        )
        write_json_atomically(stage / PROVENANCE_NAME, provenance)
    return out_dir
