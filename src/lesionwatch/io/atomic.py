"""Atomic file output: write to a temporary name in the same folder, then rename over the target.

A crash or a full disk therefore never leaves a half-written file that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def temporary_sibling(path: Path) -> Path:
    """A unique hidden path in `path`'s folder that keeps `path`'s full suffix (so `.nii.gz` stays gzip)."""
    suffix = "".join(path.suffixes)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    return path.with_name(f".{stem}.{uuid.uuid4().hex[:8]}.partial{suffix}")


def write_atomically(path: Path, writer: Callable[[Path], None]) -> Path:
    """Call `writer(tmp)` to produce the file at a temporary path, then move it onto `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return path


def write_text_atomically(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return write_atomically(path, write)


def _json_safe(data: Any) -> Any:
    """NaN and infinity become null: strict JSON (and every browser) refuses them."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: _json_safe(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_json_safe(v) for v in data]
    return data


def write_json_atomically(path: Path, data: Any) -> Path:
    """Write `data` as indented, strict JSON (NaN as null) to `path` atomically."""
    text = json.dumps(_json_safe(data), indent=2, sort_keys=False, default=str, allow_nan=False)
    return write_text_atomically(path, text + "\n")


@contextlib.contextmanager
def staged_directory(final: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a staging folder beside `final`; on success it replaces `final`, on failure it is removed.

    With `overwrite=False` the caller must have checked that `final` does not exist. An existing `final` is only
    removed once the new results are complete, so a failed rerun never loses results already written.
    """
    final = final.resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.partial")
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if final.exists():
        if not overwrite:
            shutil.rmtree(staging, ignore_errors=True)
            raise FileExistsError(final)
        retired = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.old")
        os.replace(final, retired)
        os.replace(staging, final)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, final)
