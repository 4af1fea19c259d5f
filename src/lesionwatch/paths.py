"""Where lesionwatch finds things on disk. The only module that reads environment variables."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def shared_data_dir() -> Path | None:
    """Return the folder of real labelled MS scans, or None when it is absent.

    `LESIONWATCH_SHARED_DATA` overrides the default, which is `../shared/data` beside the source checkout.
    """
    env = os.environ.get("LESIONWATCH_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(PACKAGE_DIR.parents[2] / "shared" / "data")  # src/lesionwatch -> checkout -> its parent
    for candidate in candidates:
        if (candidate / "README.md").is_file() or (candidate / "lesjak_long").is_dir():
            return candidate
    return None


def device_preference() -> str:
    """Return the compute device asked for by `LESIONWATCH_DEVICE` ("auto", "cpu" or "cuda")."""
    return os.environ.get("LESIONWATCH_DEVICE", "auto").lower()


def num_threads() -> int | None:
    """Return the thread count asked for by `LESIONWATCH_THREADS`, or None to use every core."""
    value = os.environ.get("LESIONWATCH_THREADS")
    return int(value) if value else None


def cpu_threads() -> int:
    """Threads a CPU step may use: `LESIONWATCH_THREADS`, else `OMP_NUM_THREADS` (as a job running beside others
    sets it), else the cores this process may run on."""
    asked = num_threads()
    if asked:
        return asked
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:
        return int(omp)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def web_token() -> str | None:
    """The web server's access token from `LESIONWATCH_TOKEN` (kept out of the process list), or None."""
    return os.environ.get("LESIONWATCH_TOKEN") or None
