"""Logging set-up for the command line. The library only logs through `logging.getLogger(__name__)`."""

from __future__ import annotations

import logging
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(verbosity: int) -> None:
    """Configure the root `lesionwatch` logger for the console.

    Args:
        verbosity: -1 quiet (warnings only), 0 normal (info), 1 or more verbose (debug).
    """
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    logger = logging.getLogger("lesionwatch")
    logger.setLevel(logging.DEBUG)
    for handler in list(logger.handlers):
        if getattr(handler, "_lesionwatch_console", False):
            logger.removeHandler(handler)
    console = logging.StreamHandler()  # stderr, so results printed on stdout stay clean
    console.setFormatter(logging.Formatter("%(levelname)s %(message)s" if verbosity < 1 else _FORMAT))
    console.setLevel(level)
    console._lesionwatch_console = True  # type: ignore[attr-defined]
    logger.addHandler(console)


class _HidingFormatter(logging.Formatter):
    """Writes paths under `hidden` relative to it (a server's folders never reach the result files it serves)."""

    def __init__(self, hidden: Path) -> None:
        super().__init__(_FORMAT)
        self._prefix = str(hidden).rstrip("/") + "/"

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace(self._prefix, "")


def add_file_log(path: Path, hide_paths_under: Path | None = None) -> logging.Handler:
    """Send every `lesionwatch` log record at DEBUG level and above to `path`; return the handler to remove.
    Paths under `hide_paths_under` are written relative to it."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT) if hide_paths_under is None else
                         _HidingFormatter(hide_paths_under))
    handler.setLevel(logging.DEBUG)
    logger = logging.getLogger("lesionwatch")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return handler
