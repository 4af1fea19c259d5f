"""The atlas the project ships and its registration to a patient.

Inputs: a patient's normalised FLAIR or T1 and brain mask on the working grid. Outputs: `RegionMap` (ventricles,
cortex, infratentorial brain, white matter; intracranial volume) from `regions.map_regions`; `mni.load_mni_anatomy`
gives the MNI152 ICBM 2009a symmetric template's tissue maps (Fonov et al., NeuroImage 2011) as nilearn ships them,
which the region map and the synthetic brains are made from.
"""
