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


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_staging(final: Path) -> list[Path]:
    """Remove the staging and retired folders of `final` left by a process that no longer runs (killed with
    SIGKILL, or by the OOM killer, before it could clean up); return what was removed.

    Their names carry the owner's process id (`.NAME.PID-HEX.partial`, `.NAME.PID-HEX.old`); a folder whose owner
    is alive (another run writing the same output) is left alone, and so is any name of another form.
    """
    removed = []
    for path in final.parent.glob(f".{glob_escape(final.name)}.*"):
        tag, _, kind = path.name[len(final.name) + 2:].rpartition(".")
        pid, _, hex_part = tag.partition("-")
        if kind not in ("partial", "old") or not pid.isdigit() or not hex_part or not path.is_dir():
            continue
        if int(pid) != os.getpid() and not _owner_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def glob_escape(name: str) -> str:
    """`name` with the characters glob treats specially escaped."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def _is_empty_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


@contextlib.contextmanager
def staged_directory(final: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a staging folder beside `final`; on success it replaces `final`, on failure it is removed.

    With `overwrite=False` the caller must have checked that `final` does not exist or is an empty folder (which
    the results then replace). An existing `final` is only removed once the new results are complete, so a failed
    rerun never loses results already written. Staging folders of `final` left by killed runs are removed first.
    """
    final = final.resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(final)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging = final.with_name(f".{final.name}.{tag}.partial")
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if final.exists() or final.is_symlink():
        if not overwrite and not _is_empty_folder(final):
            shutil.rmtree(staging, ignore_errors=True)
            raise FileExistsError(final)
        retired = final.with_name(f".{final.name}.{tag}.old")
        os.replace(final, retired)
        os.replace(staging, final)
        if retired.is_dir() and not retired.is_symlink():
            shutil.rmtree(retired, ignore_errors=True)
        else:
            retired.unlink()
    else:
        os.replace(staging, final)
