"""The commands of `lesionwatch`, one module per group; each parses its options into configs and calls one
workflow."""

from __future__ import annotations

import typer

from lesionwatch.cli.bids import bids
from lesionwatch.cli.models import models_app
from lesionwatch.cli.serve import serve
from lesionwatch.cli.studies import demo, evaluate, followup, preprocess, report, segment, synth
from lesionwatch.cli.training import finetune, train


def register(app: typer.Typer) -> None:
    """Add every command to `app`."""
    app.command()(preprocess)
    app.command()(segment)
    app.command()(followup)
    app.command()(report)
    app.command()(bids)
    app.command()(serve)
    app.command()(synth)
    app.command()(demo)
    app.command()(evaluate)
    app.command()(train)
    app.command()(finetune)
    app.add_typer(models_app, name="models")
