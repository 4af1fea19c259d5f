"""Preprocessing: reorientation, registration, brain extraction, bias correction, resampling, normalisation.

Each stage is its own module with its own frozen config; `pipeline.py` fixes their order. Inputs are `Study`
objects read by `lesionwatch.io`; outputs are `PreprocessedStudy` objects on an isotropic RAS+ working grid,
with the exact way back to the native FLAIR grid.

References: N4 (Tustison et al., IEEE TMI 2010); Mattes mutual information (Mattes et al., IEEE TMI 2003);
deepbet (Fisch et al., Comput. Biol. Med. 2024).
"""
