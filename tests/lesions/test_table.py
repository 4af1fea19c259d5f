"""Lesion table and summary on small hand-built volumes with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lesionwatch.atlas.regions import (
    CORTEX,
    INFRATENTORIAL,
    VENTRICLES,
    WHITE_MATTER,
    RegionMap,
)
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.lesions.locations import LocationConfig
from lesionwatch.lesions.table import LESION_COLUMNS, lesion_table, summarize
from lesionwatch.workflows.tables import write_lesion_table


def _grid(spacing: float = 1.0, shape: tuple[int, int, int] = (40, 40, 40)) -> np.ndarray:
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = [-20.0, 10.0, 5.0]
    return affine


def _regions(shape: tuple[int, int, int] = (40, 40, 40)) -> np.ndarray:
    """White matter everywhere; a ventricle block in the middle; cortex on the x=0 face; infratentorial slab low."""
    r = np.full(shape, WHITE_MATTER, np.uint8)
    r[18:22, 18:22, 18:30] = VENTRICLES
    r[:3, :, :] = CORTEX
    r[:, :, :5] = INFRATENTORIAL
    return r


def test_zero_lesions_gives_empty_table_with_right_columns(tmp_path: Path) -> None:
    affine = _grid()
    ids = LabelVolume(np.zeros((40, 40, 40), np.int32), affine)
    table = lesion_table(ids, LabelVolume(_regions(), affine), flair=Volume(np.zeros((40, 40, 40)), affine))
    assert len(table) == 0 and table.columns == LESION_COLUMNS
    write_lesion_table(table, tmp_path)
    assert (tmp_path / "lesion_table.csv").read_text().strip() == ",".join(LESION_COLUMNS)
    summary = summarize(table, None, None)
    assert summary.lesion_count == 0 and summary.lesion_volume_mm3 == 0
    assert summary.count_by_location == {"periventricular": 0, "juxtacortical": 0, "infratentorial": 0,
                                         "white_matter": 0}


def test_measurements_are_in_world_millimetres() -> None:
    affine = _grid(spacing=2.0)
    ids = np.zeros((40, 40, 40), np.int32)
    ids[10:13, 10:13, 10:13] = 7  # a 3x3x3 cube of 2 mm voxels
    flair = np.zeros((40, 40, 40), np.float32)
    flair[ids > 0] = 5.0
    prob = np.where(ids > 0, 0.8, 0.0)
    table = lesion_table(LabelVolume(ids, affine), LabelVolume(np.full(ids.shape, WHITE_MATTER, np.uint8), affine),
                         flair=Volume(flair, affine), probability=Volume(prob, affine))
    (row,) = table.rows
    assert row["lesion_id"] == 7
    assert row["volume_mm3"] == pytest.approx(27 * 8.0)
    assert (row["centroid_x_mm"], row["centroid_y_mm"], row["centroid_z_mm"]) == pytest.approx((2.0, 32.0, 27.0))
    assert (row["bbox_min_x_mm"], row["bbox_max_x_mm"]) == pytest.approx((0.0, 4.0))
    assert row["max_diameter_mm"] == pytest.approx(np.sqrt(3) * 4.0, abs=0.01)
    assert row["mean_probability"] == pytest.approx(0.8)
    assert row["flair_contrast_nawm_sd"] is not None and row["t1_black_hole"] is None


def test_location_class_follows_the_nearest_structure() -> None:
    affine = _grid()
    regions = _regions()
    ids = np.zeros(regions.shape, np.int32)
    ids[16:18, 19:21, 20:22] = 1   # touching the ventricle block (ends at x=18)
    ids[3:5, 30:32, 20:22] = 2     # next to the cortex face
    ids[25:27, 25:27, 1:3] = 3     # inside the infratentorial slab
    ids[30:32, 30:32, 20:22] = 4   # far from everything
    table = lesion_table(LabelVolume(ids, affine), LabelVolume(regions, affine),
                         flair=Volume(np.zeros(regions.shape), affine))
    assert table.column("location") == ["periventricular", "juxtacortical", "infratentorial", "white_matter"]
    region_map = RegionMap(LabelVolume(regions, affine), 1.6e6, np.eye(4))
    summary = summarize(table, region_map, LabelVolume(np.ones(regions.shape, np.uint8), affine))
    assert summary.dis_regions_involved == ["periventricular", "juxtacortical", "infratentorial"]
    assert summary.count_by_location["white_matter"] == 1
    assert summary.brain_volume_mm3 == pytest.approx(40 ** 3 - 4 * 4 * 12)
    assert summary.lesion_fraction_of_icv_percent == pytest.approx(100 * 4 * 8 / 1.6e6, rel=1e-3)


def test_black_hole_is_darker_than_cortex_on_t1() -> None:
    affine = _grid()
    regions = _regions()
    t1 = np.where(regions == CORTEX, -1.0, 0.0).astype(np.float32)
    ids = np.zeros(regions.shape, np.int32)
    ids[10:13, 10:13, 10:13] = 1
    ids[30:33, 30:33, 30:33] = 2
    t1[ids == 1] = -3.0  # darker than cortex
    t1[ids == 2] = -0.5  # hypointense to white matter, not to cortex
    table = lesion_table(LabelVolume(ids, affine), LabelVolume(regions, affine),
                         flair=Volume(np.zeros(regions.shape), affine), t1=Volume(t1, affine), config=LocationConfig())
    assert table.column("t1_black_hole") == [True, False]
