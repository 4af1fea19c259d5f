"""Inference: turning preprocessed channels into lesion probabilities and masks in the native grid.

`sliding_window.py` runs a trained network over the whole working grid (overlapping patches, optional flip
test-time augmentation, GPU when present); `classical.py` is the FLAIR-threshold baseline every model is
benchmarked against (`--method classical`).
"""
