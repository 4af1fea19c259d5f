"""Progress display for workflows: a rich progress bar over named stages, or nothing (`--no-progress`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

StageCallback = Callable[[str, float], None]
"""Called with the stage starting and the fraction of stages already finished (0 to 1)."""


class StageProgress:
    """Shows which stage of a workflow is running and how many remain (bar and/or callback)."""

    def __init__(self, bar: Any, task: Any, callback: StageCallback | None = None, total: int = 1) -> None:
        self._bar, self._task = bar, task
        self._started = False
        self._callback, self._total, self._done = callback, max(total, 1), 0

    def stage(self, name: str) -> None:
        """Mark the previous stage finished and `name` started."""
        if self._callback is not None:
            if self._started:
                self._done += 1
            self._callback(name, min(self._done / self._total, 1.0))
        if self._bar is None:
            self._started = True
            return
        if self._started:
            self._bar.advance(self._task)
        self._started = True
        self._bar.update(self._task, description=name.replace("_", " "))

    def finished(self, description: str) -> None:
        """Count one item finished (for progress over items rather than stages)."""
        if self._bar is None:
            return
        self._bar.advance(self._task)
        self._bar.update(self._task, description=description)


@contextlib.contextmanager
def stage_progress(title: str, total: int, enabled: bool, callback: StageCallback | None = None
                   ) -> Iterator[StageProgress]:
    """Context giving a `StageProgress` over `total` stages; no bar when not `enabled` (the callback still runs)."""
    if not enabled:
        yield StageProgress(None, None, callback, total)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(f"[bold]{title}[/bold]"), TextColumn("{task.description:<24}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task("starting", total=total)
        progress = StageProgress(bar, task, callback, total)
        yield progress
        bar.update(task, completed=total, description="done")
