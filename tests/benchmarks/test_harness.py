"""The benchmarks' shared runner: times a child process from outside and names the failing input."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest


def test_run_timed_measures_the_child(load_benchmark: Callable[[str], ModuleType]) -> None:
    harness = load_benchmark("harness")
    # the child holds ~200 MB; its peak must show in the figure, and the sleep in the wall time
    wall, peak = harness.run_timed([sys.executable, "-c", "import time; b = bytearray(200 << 20); time.sleep(0.3)"],
                                   "child")
    assert wall >= 0.3
    assert 200 <= peak < 1000


def test_run_timed_names_the_failure(load_benchmark: Callable[[str], ModuleType]) -> None:
    harness = load_benchmark("harness")
    with pytest.raises(RuntimeError, match=r"case7: exit status 3"):
        harness.run_timed([sys.executable, "-c", "raise SystemExit(3)"], "case7")


def test_segment_command_adds_t1_only_when_given(load_benchmark: Callable[[str], ModuleType]) -> None:
    harness = load_benchmark("harness")
    with_t1 = harness.segment_command(Path("f.nii.gz"), Path("t.nii.gz"), Path("o"), ["--no-report"])
    without = harness.segment_command(Path("f.nii.gz"), None, Path("o"), [])
    assert with_t1[with_t1.index("--t1") + 1] == "t.nii.gz" and "--no-report" in with_t1
    assert "--t1" not in without and without[without.index("--force") + 1] == "segment"
