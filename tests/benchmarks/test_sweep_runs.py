"""Pooling sweeps of several runs: each run weighs once, whatever its number of cases."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType


def _run(path: Path, records: list[tuple[str, float, float, float, float]]) -> Path:
    path.write_text(json.dumps({"sweep": [
        {"case": c, "threshold": t, "min_lesion_volume_mm3": v, "dice": d, "lesion_f1": f}
        for c, t, v, d, f in records]}))
    return path


def test_runs_weigh_once_and_points_missing_from_a_run_are_left_out(
        tmp_path: Path, load_benchmark: Callable[[str], ModuleType]) -> None:
    bench = load_benchmark("sweep_runs")
    a = _run(tmp_path / "a.json", [("x", 0.2, 20.0, 0.8, 0.6), ("y", 0.2, 20.0, 0.6, 0.4)])
    b = _run(tmp_path / "b.json", [("z", 0.2, 20.0, 0.3, 0.2), ("z", 0.5, 10.0, 0.9, 0.9)])

    points = bench.pooled([a, b])

    assert set(points) == {(0.2, 20.0)}  # 0.5 / 10 is missing from run a, so it is not pooled
    (da, fa), (db, fb) = points[(0.2, 20.0)]
    assert (round(da, 6), round(fa, 6)) == (0.7, 0.5)  # run a: the mean of its two cases
    assert (db, fb) == (0.3, 0.2)
