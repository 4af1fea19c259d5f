"""Inference: turning a preprocessed study into lesion probabilities on its working grid.

`predictor.py` loads the segmenter once (the network and its verified card, or the classical method) and scores a
preprocessed study; `sliding_window.py` runs a trained network over the whole working grid (overlapping patches,
optional flip test-time augmentation, GPU when present); `classical.py` is the FLAIR-threshold baseline every
model is benchmarked against (`--method classical`); `postprocessing.py` is the one chain from probability to
lesion mask (threshold, minimum lesion volume).
"""
