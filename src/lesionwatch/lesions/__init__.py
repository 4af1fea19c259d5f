"""Lesions: connected components, evaluation metrics, anatomical regions and locations, and the lesion table.

Inputs: `LabelVolume` masks. Outputs: components and metric dataclasses. Metric definitions follow Commowick et
al., Sci Rep 2018 (MSSEG-2016) and the MSSEG-2 new-lesion challenge (2021).
"""
