"""The McDonald location class of each lesion, read from the patient's region map (`atlas.regions`).

Location classes follow the McDonald 2017 criteria (Thompson et al., Lancet Neurol 2018) for the brain:
periventricular (touching a lateral ventricle), juxtacortical/cortical (touching the cortex), infratentorial, and
other white matter. See `classify_location` for the distances used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lesionwatch.atlas.regions import INFRATENTORIAL

LOCATION_CLASSES = ("periventricular", "juxtacortical", "infratentorial", "white_matter")
"""McDonald location classes of a lesion, in order of precedence after infratentorial (see `classify_location`)."""


@dataclass(frozen=True)
class LocationConfig:
    """Distances by which a lesion's location class is read from the region map.

    Attributes:
        periventricular_mm: a lesion within this distance of a lateral ventricle is periventricular ("abutting").
        juxtacortical_mm: a lesion within this distance of the cortex is juxtacortical/cortical.
        infratentorial_fraction: share of a lesion's voxels in the infratentorial region that makes it infratentorial.
    """

    periventricular_mm: float = 3.0
    juxtacortical_mm: float = 2.0
    infratentorial_fraction: float = 0.5


def classify_location(lesion: npt.NDArray[np.bool_], regions: npt.NDArray[np.integer],
                      distances: dict[str, npt.NDArray[np.float32]], config: LocationConfig) -> str:
    """The McDonald location class of one lesion.

    Precedence: infratentorial (at least `infratentorial_fraction` of its voxels below the tentorium), then
    periventricular (any voxel within `periventricular_mm` of a lateral ventricle), then juxtacortical/cortical
    (any voxel within `juxtacortical_mm` of the cortex), else other white matter.

    Args:
        lesion: boolean mask of the lesion (any sub-block, with `regions` and `distances` cut the same way).
        regions: region map values on the same voxels.
        distances: `distance_maps_mm` cut the same way.
        config: the distances and fraction above.
    """
    if not lesion.any():
        return "white_matter"
    if float(np.mean(regions[lesion] == INFRATENTORIAL)) >= config.infratentorial_fraction:
        return "infratentorial"
    if float(distances["ventricles"][lesion].min()) <= config.periventricular_mm:
        return "periventricular"
    if float(distances["cortex"][lesion].min()) <= config.juxtacortical_mm:
        return "juxtacortical"
    return "white_matter"
