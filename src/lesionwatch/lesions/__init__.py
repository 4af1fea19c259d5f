"""Lesions: connected components and evaluation metrics (lesion table and locations come with the lesion issue).

Inputs: `LabelVolume` masks. Outputs: components and metric dataclasses. Metric definitions follow Commowick et
al., Sci Rep 2018 (MSSEG-2016) and the MSSEG-2 new-lesion challenge (2021).
"""
