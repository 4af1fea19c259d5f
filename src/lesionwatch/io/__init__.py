"""Image input and output: `Volume`/`LabelVolume`, NIfTI, DICOM series and BIDS discovery.

Inputs: paths to NIfTI files, DICOM folders or BIDS sessions. Outputs: `Volume` objects in RAS+ world mm, and
NIfTI files written atomically with the reference image's own header.
"""

from lesionwatch.io.volume import LabelVolume, Volume

__all__ = ["LabelVolume", "Volume"]
