"""Shared by the benchmark scripts: build a `lesionwatch` command line, run it in a fresh process, time it.

Not a benchmark itself. The scripts run as `python benchmarks/NAME.py`, so this folder is first on `sys.path` and
they import it as `harness`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def lesionwatch_command(*args: str) -> list[str]:
    """`python -m lesionwatch --no-progress -q ARGS...` with this interpreter."""
    return [sys.executable, "-m", "lesionwatch", "--no-progress", "-q", *args]


def segment_command(flair: Path, t1: Path | None, out: Path, extra: list[str]) -> list[str]:
    """`lesionwatch segment` of one study into `out` (replacing what is there), with extra options."""
    cmd = lesionwatch_command("--force", "segment", "--flair", str(flair), "--out", str(out), *extra)
    return cmd + (["--t1", str(t1)] if t1 is not None else [])


def run_timed(cmd: list[str], what: str) -> tuple[float, float]:
    """Run `cmd` (stdout discarded, stderr shown); return (wall seconds, the child's peak resident MB).

    Raises RuntimeError naming `what` when the command fails.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{what}: exit status {code} from {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024
