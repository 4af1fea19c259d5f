"""The lesion table of one study: one row per lesion (26-connectivity), and the study's summary.

Every measurement is made on the grid of the lesion map it is given (lesionwatch gives the native FLAIR grid, the
grid of the mask users see), so volumes are those of the written mask. Contrasts are in units of the spread of
normal-appearing white matter (NAWM) in the normalised images: (lesion mean - NAWM mean) / NAWM SD. A lesion is a
T1 "black hole" when its mean T1 is darker than the median of the cortex (the usual visual criterion: hypointense
relative to grey matter).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from lesionwatch.atlas.regions import CORTEX, VENTRICLES, WHITE_MATTER, RegionMap, distance_maps_mm
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.lesions.locations import LOCATION_CLASSES, LocationConfig, classify_location

LESION_COLUMNS = (
    "lesion_id", "volume_mm3", "voxel_count", "centroid_x_mm", "centroid_y_mm", "centroid_z_mm",
    "bbox_min_x_mm", "bbox_min_y_mm", "bbox_min_z_mm", "bbox_max_x_mm", "bbox_max_y_mm", "bbox_max_z_mm",
    "max_diameter_mm", "location", "flair_contrast_nawm_sd", "t1_contrast_nawm_sd", "t1_black_hole",
    "mean_probability",
)
"""Columns of the lesion table, in order. World coordinates are RAS+ mm; missing values (no T1) are None."""


@dataclass(frozen=True)
class LesionTable:
    """One row per lesion, columns as in `LESION_COLUMNS`; empty is a table with no rows."""

    rows: tuple[dict[str, Any], ...] = ()
    columns: tuple[str, ...] = LESION_COLUMNS

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[Any]:
        return [row[name] for row in self.rows]


@dataclass(frozen=True)
class LesionSummary:
    """Totals of one study.

    Attributes:
        lesion_count, lesion_volume_mm3: all lesions.
        count_by_location, volume_mm3_by_location: per McDonald location class (every class present, 0 if none).
        dis_regions_involved: McDonald 2017 brain regions with at least one lesion (periventricular,
            juxtacortical, infratentorial); the spinal cord is not imaged. Descriptive, not a diagnosis.
        brain_volume_mm3: brain mask minus ventricles.
        intracranial_volume_mm3: template-based estimate (see `atlas.regions`).
        lesion_fraction_of_icv_percent: lesion volume as a percentage of the intracranial volume.
    """

    lesion_count: int
    lesion_volume_mm3: float
    count_by_location: dict[str, int] = field(default_factory=dict)
    volume_mm3_by_location: dict[str, float] = field(default_factory=dict)
    dis_regions_involved: list[str] = field(default_factory=list)
    brain_volume_mm3: float = float("nan")
    intracranial_volume_mm3: float = float("nan")
    lesion_fraction_of_icv_percent: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _max_diameter_mm(points: npt.NDArray[np.float64]) -> float:
    if len(points) < 2:
        return 0.0
    if len(points) > 50:
        with contextlib.suppress(QhullError):  # a flat lesion (one slice) has coplanar points: keep them all
            points = points[ConvexHull(points).vertices]
    if len(points) > 3000:
        points = points[np.linspace(0, len(points) - 1, 3000).astype(int)]
    d = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    return float(d.max())


def _nawm_stats(image: npt.NDArray[np.float32], nawm: npt.NDArray[np.bool_]) -> tuple[float, float]:
    values = image[nawm]
    if values.size < 50:
        return float("nan"), float("nan")
    return float(values.mean()), float(values.std()) or 1.0


def _distances_around(region_map: LabelVolume, box: tuple[slice, ...], margin: npt.NDArray[np.int_]
                      ) -> dict[str, npt.NDArray[np.float32]]:
    """`distance_maps_mm` over `box`, computed in the box grown by `margin` voxels: exact up to the margin (any
    nearer ventricle or cortex voxel lies inside the grown box), at least the margin beyond; the class thresholds
    of `classify_location` are below it. Much cheaper than whole-volume distance maps."""
    grown = tuple(slice(max(b.start - m, 0), min(b.stop + m, n))
                  for b, m, n in zip(box, margin, region_map.shape, strict=True))
    maps = distance_maps_mm(LabelVolume(region_map.array[grown], region_map.affine))
    inner = tuple(slice(b.start - g.start, b.stop - g.start) for b, g in zip(box, grown, strict=True))
    return {name: d[inner] for name, d in maps.items()}


def lesion_table(lesion_ids: LabelVolume, region_map: LabelVolume, *, flair: Volume, t1: Volume | None = None,
                 probability: Volume | None = None, config: LocationConfig | None = None) -> LesionTable:
    """Measure every lesion of a lesion id map.

    Args:
        lesion_ids: lesion ids (0 = background; ids need not be consecutive, so ids shared across studies keep).
        region_map: `RegionMap.regions` on the same grid.
        flair: normalised FLAIR on the same grid (for contrast).
        t1: normalised T1 on the same grid, or None.
        probability: lesion probability on the same grid, or None.
        config: location-class settings.

    Returns:
        LesionTable sorted by lesion id.
    """
    config = config or LocationConfig()
    ids = lesion_ids.array
    regions = region_map.array
    lesion_any = ids > 0
    nawm = (regions == WHITE_MATTER) & ~ndimage.binary_dilation(lesion_any, iterations=2)
    flair_mean, flair_sd = _nawm_stats(flair.array, nawm)
    t1_mean, t1_sd = _nawm_stats(t1.array, nawm) if t1 is not None else (float("nan"), float("nan"))
    cortex_t1 = float(np.median(t1.array[regions == CORTEX])) if t1 is not None and (regions == CORTEX).any() \
        else float("nan")
    margin = np.ceil((max(config.periventricular_mm, config.juxtacortical_mm) + max(region_map.spacing_mm))
                     / np.asarray(region_map.spacing_mm)).astype(int)
    affine = lesion_ids.affine
    voxel_mm3 = lesion_ids.voxel_volume_mm3
    rows = []
    objects = ndimage.find_objects(ids)
    for index, box in enumerate(objects, start=1):
        if box is None:
            continue
        sub = ids[box] == index
        offset = np.array([s.start for s in box])
        voxels = np.argwhere(sub) + offset
        world = voxels @ affine[:3, :3].T + affine[:3, 3]
        cut = _distances_around(region_map, box, margin)
        flair_c = (float(flair.array[box][sub].mean()) - flair_mean) / flair_sd
        t1_lesion = float(t1.array[box][sub].mean()) if t1 is not None else float("nan")
        centroid = world.mean(axis=0)
        row: dict[str, Any] = {
            "lesion_id": index,
            "volume_mm3": round(len(voxels) * voxel_mm3, 2),
            "voxel_count": len(voxels),
            **{f"centroid_{a}_mm": round(float(c), 2) for a, c in zip("xyz", centroid, strict=True)},
            **{f"bbox_min_{a}_mm": round(float(c), 2) for a, c in zip("xyz", world.min(axis=0), strict=True)},
            **{f"bbox_max_{a}_mm": round(float(c), 2) for a, c in zip("xyz", world.max(axis=0), strict=True)},
            "max_diameter_mm": round(_max_diameter_mm(world), 2),
            "location": classify_location(sub, regions[box], cut, config),
            "flair_contrast_nawm_sd": round(flair_c, 3) if np.isfinite(flair_c) else None,
            "t1_contrast_nawm_sd": round((t1_lesion - t1_mean) / t1_sd, 3) if np.isfinite(t1_lesion - t1_mean)
            else None,
            "t1_black_hole": bool(t1_lesion < cortex_t1) if np.isfinite(t1_lesion - cortex_t1) else None,
            "mean_probability": round(float(probability.array[box][sub].mean()), 4) if probability is not None
            else None,
        }
        rows.append(row)
    return LesionTable(tuple(rows))


def summarize(table: LesionTable, region_map: RegionMap | None, brain_mask: LabelVolume | None) -> LesionSummary:
    """Totals of a lesion table, with brain and intracranial volumes when the regions are known.

    Args:
        table: the study's lesion table.
        region_map: the study's regions (on `brain_mask`'s grid), or None.
        brain_mask: the study's brain mask, or None.
    """
    volumes = table.column("volume_mm3")
    locations = table.column("location")
    count = {c: sum(1 for loc in locations if loc == c) for c in LOCATION_CLASSES}
    volume = {c: round(sum(v for v, loc in zip(volumes, locations, strict=True) if loc == c), 2)
              for c in LOCATION_CLASSES}
    total = round(float(sum(volumes)), 2)
    brain = float("nan")
    if brain_mask is not None:
        inside = brain_mask.mask
        if region_map is not None and region_map.regions.same_grid(brain_mask):
            inside = inside & (region_map.regions.array != VENTRICLES)
        brain = round(float(inside.sum()) * brain_mask.voxel_volume_mm3, 1)
    icv = round(region_map.intracranial_volume_mm3, 1) if region_map is not None else float("nan")
    return LesionSummary(
        lesion_count=len(table), lesion_volume_mm3=total, count_by_location=count, volume_mm3_by_location=volume,
        dis_regions_involved=[c for c in ("periventricular", "juxtacortical", "infratentorial") if count[c] > 0],
        brain_volume_mm3=brain, intracranial_volume_mm3=icv,
        lesion_fraction_of_icv_percent=round(100.0 * total / icv, 4) if icv == icv and icv > 0 else float("nan"),
    )
