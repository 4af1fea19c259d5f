"""`lesionwatch bids`: a BIDS dataset's participants and group, as a BIDS App."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lesionwatch.cli.main import STATE
from lesionwatch.errors import ConfigError


def bids(
    bids_dir: Annotated[Path, typer.Argument(help="Root of the BIDS dataset.")],
    out_dir: Annotated[Path, typer.Argument(help="Output derivatives folder (e.g. BIDS_DIR/derivatives/lesionwatch).")],
    level: Annotated[str, typer.Argument(help="participant (segment / follow up every session) or group (tables).")],
    participant_label: Annotated[list[str] | None, typer.Option(
        "--participant-label", help="Only these subjects (labels with or without 'sub-'). Repeatable.")] = None,
    session_label: Annotated[list[str] | None, typer.Option(
        "--session-label", help="Only these sessions. Repeatable.")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Local worker processes (default: one per 2 cores, memory permitting).")] = None,
    dask_scheduler: Annotated[str | None, typer.Option(
        "--dask-scheduler", help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786.")] = None,
    model: Annotated[str, typer.Option("--model", help="Installed model name or model folder.")] = "default",
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=1.0, help="Sensitivity: probability cut-off (default: the model card's).")] = None,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Also write each task's report.")] = False,
) -> None:
    """BIDS App: `participant` runs every session (resumable), `group` writes the cohort tables."""
    from lesionwatch.workflows.cohort import CohortConfig, run_participants
    from lesionwatch.workflows.cohort_group import run_group
    from lesionwatch.workflows.progress import stage_progress
    from lesionwatch.workflows.segment import SegmentationConfig

    if level == "group":
        written = run_group(out_dir)
        typer.echo("cohort tables: " + ", ".join(str(p) for p in written.values()))
        return
    if level != "participant":
        raise ConfigError(f"analysis level {level!r}: expected participant or group")
    config = CohortConfig(segmentation=SegmentationConfig(model=model, threshold=threshold), report=report)
    from lesionwatch.workflows.cohort import find_tasks

    total = len(find_tasks(bids_dir, participant_label or (), session_label or ()))
    with stage_progress("cohort", total, STATE.progress) as bar:
        records = run_participants(bids_dir, out_dir, config, participant_labels=participant_label or (),
                                   session_labels=session_label or (), workers=workers, scheduler=dask_scheduler,
                                   on_done=lambda r: bar.finished(f"{r['task']} {r['status']}"))
    counts = {s: sum(1 for r in records if r["status"] == s) for s in ("done", "skipped", "failed")}
    typer.echo(f"{counts['done']} done, {counts['skipped']} already done, {counts['failed']} failed; "
               f"results in {out_dir}")
    for r in records:
        if r["status"] == "failed":
            typer.echo(f"  failed: {r['task']}: {r.get('error', '')}", err=True)
        for session, error in r.get("failed_sessions", {}).items():
            typer.echo(f"  failed: {r['task']} ses-{session} (left out of its follow-up): {error}", err=True)
    if counts["failed"] or any(r.get("failed_sessions") for r in records):
        raise typer.Exit(1)
