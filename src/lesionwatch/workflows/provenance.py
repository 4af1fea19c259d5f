"""provenance.json: what produced an output folder (versions, resolved config, input hashes, timings)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from lesionwatch import __version__
from lesionwatch.io.study import hash_input

_LIBRARIES = ("numpy", "scipy", "nibabel", "SimpleITK", "torch", "deepbet", "pydicom", "nilearn")


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour shapes the results."""
    out = {"lesionwatch": __version__, "python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def config_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) frozen config dataclass."""
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)  # type: ignore[arg-type]


SECRET_OPTIONS = ("--token",)
"""Options whose values never reach a result file."""


def redacted_argv(argv: list[str]) -> list[str]:
    """`argv` with the values of SECRET_OPTIONS replaced by "***" (`--token X` and `--token=X` alike)."""
    out = []
    hide = False
    for arg in argv:
        if hide:
            out.append("***")
            hide = False
        elif arg in SECRET_OPTIONS:
            out.append(arg)
            hide = True
        elif arg.split("=", 1)[0] in SECRET_OPTIONS and "=" in arg:
            out.append(arg.split("=", 1)[0] + "=***")
        else:
            out.append(arg)
    return out


def build_provenance(*, command: str, inputs: dict[str, Path], config: dict[str, Any], timings_s: dict[str, float],
                     outputs: dict[str, str], extra: dict[str, Any] | None = None,
                     hide_paths_under: Path | None = None) -> dict[str, Any]:
    """Assemble the provenance record.

    Args:
        command: the workflow name ("preprocess", "segment"...).
        inputs: sequence name -> input path (file or DICOM folder); each is hashed with sha256.
        config: resolved configuration (see `config_dict`).
        timings_s: seconds per stage.
        outputs: output file name -> the space it is in.
        extra: anything else worth keeping (quality figures, model card summary...).
        hide_paths_under: a folder whose path stays out of the record (a web server's job folder): the inputs are
            recorded relative to it, and the command line is left out.
    """
    def shown(path: Path) -> str:
        resolved = Path(path).resolve()
        if hide_paths_under is None:
            return str(resolved)
        return resolved.relative_to(Path(hide_paths_under).resolve()).as_posix()

    record: dict[str, Any] = {
        "tool": "lesionwatch",
        "command": command,
        "argv": redacted_argv(sys.argv),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "versions": library_versions(),
        "platform": platform.platform(),
        "inputs": {name: {"path": shown(p), "sha256": hash_input(Path(p))}
                   for name, p in inputs.items()},
        "config": config,
        "timings_s": {**timings_s, "total": round(sum(timings_s.values()), 3)},
        "outputs": outputs,
    }
    if hide_paths_under is not None:
        del record["argv"]
    if extra:
        record.update(extra)
    return record
