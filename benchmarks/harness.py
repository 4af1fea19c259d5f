"""Shared by the benchmark scripts: build a `lesionwatch` command line, run it in a fresh process, time it.

Not a benchmark itself. The scripts run as `python benchmarks/NAME.py`, so this folder is first on `sys.path` and
they import it as `harness`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from lesionwatch.workflows.layout import PROVENANCE_NAME


def lesionwatch_command(*args: str) -> list[str]:
    """`python -m lesionwatch --no-progress -q ARGS...` with this interpreter."""
    return [sys.executable, "-m", "lesionwatch", "--no-progress", "-q", *args]


def segment_command(flair: Path, t1: Path | None, out: Path, extra: list[str]) -> list[str]:
    """`lesionwatch segment` of one study into `out` (replacing what is there), with extra options."""
    cmd = lesionwatch_command("--force", "segment", "--flair", str(flair), "--out", str(out), *extra)
    return cmd + (["--t1", str(t1)] if t1 is not None else [])


# Runs the command and reports its exit code, wall seconds and peak RSS. It sits between the caller and the command
# because a child's ru_maxrss starts from the high-water mark of the memory it was started from: exec'd straight from
# a large process (a test run, a benchmark holding images) the figure would be the caller's, not the command's.
_TIMER = """import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_maxrss)
"""


def run_timed(cmd: list[str], what: str) -> tuple[float, float]:
    """Run `cmd` (stdout discarded, stderr shown); return (wall seconds, the command's peak resident MB).

    Raises RuntimeError naming `what` when the command fails.
    """
    timer = subprocess.run([sys.executable, "-c", _TIMER, *cmd], stdout=subprocess.PIPE, text=True, check=True)
    code, wall, maxrss_kb = timer.stdout.split()
    if int(code) != 0:
        raise RuntimeError(f"{what}: exit status {code} from {' '.join(cmd)}")
    return float(wall), int(maxrss_kb) / 1024


def timed_runs(command: Callable[[Path], list[str]], outs: list[Path], what: str
               ) -> tuple[list[float], list[float], list[dict[str, float]]]:
    """Run `command(out)` once for each output folder, printing each run; return the wall seconds, the peak MB
    and each run's stage seconds (its provenance.json `timings_s`)."""
    walls, peaks, stages = [], [], []
    for i, out in enumerate(outs):
        wall, peak = run_timed(command(out), what)
        walls.append(wall)
        peaks.append(peak)
        stages.append(json.loads((out / PROVENANCE_NAME).read_text()).get("timings_s", {}))
        print(f"  {what} run {i + 1}: {wall:.1f} s, {peak:.0f} MB", flush=True)
    return walls, peaks, stages


def timing_cells(walls: list[float], peaks: list[float], stages: list[dict[str, float]]) -> str:
    """Table cells of repeated runs: median, min and max seconds | peak MB | the median seconds of each stage."""
    names = [k for k in stages[0] if k != "total"]
    per_stage = ", ".join(f"{k} {statistics.median(s.get(k, 0.0) for s in stages):.1f}" for k in names)
    return (f"{statistics.median(walls):.1f} | {min(walls):.1f} | {max(walls):.1f} | {max(peaks):.0f} | "
            f"{per_stage}")
