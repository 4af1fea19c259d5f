"""Longitudinal analysis: aligning a patient's studies, matching lesions across them, classifying change.

Inputs: per study, its preprocessed FLAIR and lesion probability on its own working grid, and its bias-corrected
native FLAIR with brain mask. Outputs: one common space (half-way between two studies, so that neither is favoured
by interpolation; the baseline when there are more), lesion identities shared by all studies, a change class per
lesion and interval, and change maps. The joint analysis uses the FLAIR intensity change between co-registered
studies as well as the segmentations (in the spirit of subtraction imaging, Moraal et al., Radiology 2010, and of
the MSSEG-2 new-lesion challenge, Commowick et al., 2021).
"""
