"""Progress display for workflows: a rich progress bar over named stages, or nothing (`--no-progress`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


class StageProgress:
    """Shows which stage of a workflow is running and how many remain."""

    def __init__(self, bar: Any, task: Any) -> None:
        self._bar, self._task = bar, task
        self._started = False

    def stage(self, name: str) -> None:
        """Mark the previous stage finished and `name` started."""
        if self._bar is None:
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
def stage_progress(title: str, total: int, enabled: bool) -> Iterator[StageProgress]:
    """Context giving a `StageProgress` over `total` stages; a no-op when not `enabled`."""
    if not enabled:
        yield StageProgress(None, None)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(f"[bold]{title}[/bold]"), TextColumn("{task.description:<24}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task("starting", total=total)
        progress = StageProgress(bar, task)
        yield progress
        bar.update(task, completed=total, description="done")
