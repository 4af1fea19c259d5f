"""The lesion predictor: a segmenter loaded once (the network with its verified card, or the classical method) and
its lesion probability of a preprocessed study."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lesionwatch.errors import ConfigError
from lesionwatch.inference.classical import ClassicalConfig, flair_hyperintensity_score
from lesionwatch.inference.postprocessing import PostprocessingConfig, card_operating_point
from lesionwatch.inference.sliding_window import choose_device, configure_threads, predict_probability
from lesionwatch.io.volume import Volume
from lesionwatch.models.card import ModelCard, load_model, resolve_model_dir
from lesionwatch.preprocessing.pipeline import PreprocessedStudy


@dataclass(frozen=True)
class LesionScorer:
    """A loaded segmenter: the network and its card, or the classical method, with the operating point that turns
    its probability into a lesion mask."""

    name: str
    version: str
    postprocessing: PostprocessingConfig
    net: Any = None
    card: ModelCard | None = None
    sha256: str | None = None


def load_scorer(method: str, model: str = "default", threshold: float | None = None,
                min_lesion_volume_mm3: float | None = None) -> LesionScorer:
    """Load `model` (an installed name or a folder; its sha256 verified) for method "model", or set up the classical
    method; `threshold` and `min_lesion_volume_mm3` override the card's operating point (None keeps it; the
    classical method's are 0.5 and 5 mm3).

    Raises:
        ConfigError: an unknown method.
        ModelError: the model is missing, incomplete or its weights do not match their checksum.
    """
    if method == "classical":
        return LesionScorer("classical-flair-threshold", "1",
                            _override(PostprocessingConfig(0.5, 5.0), threshold, min_lesion_volume_mm3))
    if method != "model":
        raise ConfigError(f"segmentation method {method!r}: expected model or classical")
    configure_threads()
    net, card = load_model(resolve_model_dir(model), choose_device())
    return LesionScorer(card.name, card.version,
                        _override(card_operating_point(card), threshold, min_lesion_volume_mm3),
                        net, card, card.weights_sha256)


def _override(point: PostprocessingConfig, threshold: float | None, min_lesion_volume_mm3: float | None
              ) -> PostprocessingConfig:
    return PostprocessingConfig(point.threshold if threshold is None else threshold,
                                point.min_lesion_volume_mm3 if min_lesion_volume_mm3 is None else min_lesion_volume_mm3)


def score_lesions(pre: PreprocessedStudy, scorer: LesionScorer, *, flip_tta: bool = False,
                  classical: ClassicalConfig | None = None) -> Volume:
    """Lesion probability of a preprocessed study on its working grid (0 outside the brain mask): the network in
    the card's channel order (a missing sequence as zeros), with left-right flip averaging when `flip_tta`, or the
    classical method (`classical` its settings)."""
    if scorer.net is None or scorer.card is None:
        return flair_hyperintensity_score(pre.channels, pre.brain_mask, classical or ClassicalConfig())
    shape = pre.brain_mask.shape
    channels = np.stack([pre.channels[n].array if n in pre.channels else np.zeros(shape, np.float32)
                         for n in scorer.card.inputs])
    device = next(scorer.net.parameters()).device.type
    prob = predict_probability(scorer.net, channels, scorer.card.patch_size, flip_tta=flip_tta,
                               device=device)
    return pre.channels["flair"].with_array(np.where(pre.brain_mask.mask, prob, 0.0))


def model_provenance(scorer: LesionScorer) -> dict[str, object]:
    """What provenance records of the segmenter."""
    return {"name": scorer.name, "version": scorer.version, "sha256": scorer.sha256,
            "threshold": scorer.postprocessing.threshold,
            "min_lesion_volume_mm3": scorer.postprocessing.min_lesion_volume_mm3}
