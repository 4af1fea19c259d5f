"""Inference: turning preprocessed channels into lesion probabilities and masks in the native grid.

Until the trained network lands (issue 4), the classical FLAIR-threshold baseline (`classical.py`) is the only
segmenter; it stays as the baseline every model is benchmarked against.
"""
