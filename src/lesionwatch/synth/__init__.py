"""Synthetic MS brains and follow-ups with exact ground truth.

Inputs: a seed, a `SynthConfig` (and a `FollowupConfig` for several time points), optionally real lesion shapes.
Outputs: `SyntheticCase` objects holding acquired images and lesion id maps per session plus per-lesion truth;
`rescan` makes a same-day rescan of a real study (new head position, grid, bias and noise; nothing changed).
Anatomy: MNI152 ICBM 2009a (Fonov et al., NeuroImage 2011) as shipped by nilearn. Lesion shapes: CSIM lesion
simulator database (Apache-2.0) when given.
"""

from lesionwatch.synth.case import FollowupConfig, SynthConfig, SyntheticCase, generate_case
from lesionwatch.synth.rescan import RescanConfig, rescan

__all__ = ["FollowupConfig", "RescanConfig", "SynthConfig", "SyntheticCase", "generate_case", "rescan"]
