"""`lesionwatch models`: list, show and combine installed models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lesionwatch.cli.main import STATE
from lesionwatch.cli.options import (
    OutOpt,
)
from lesionwatch.errors import OutputExistsError

models_app = typer.Typer(help="List and inspect installed models.", no_args_is_help=True)


@models_app.command("list")
def models_list() -> None:
    """List the models installed with lesionwatch."""
    from lesionwatch.models.card import list_installed_models, read_card, validation_summary

    folders = list_installed_models()
    if not folders:
        typer.echo("no models installed")
    for folder in folders:
        card = read_card(folder)
        typer.echo(f"{folder.name:<12} {card.name} {card.version}  inputs {','.join(card.inputs)}  "
                   f"threshold {card.threshold:g}  min {card.min_lesion_volume_mm3:g} mm3  {validation_summary(card)}")


@models_app.command("show")
def models_show(name: Annotated[str, typer.Argument(help="Installed model name or model folder.")] = "default",
                as_json: Annotated[bool, typer.Option("--json", help="The whole card as JSON.")] = False,
                ) -> None:
    """Print a model's card: what it is, what it was trained on, and its validation table (--json: all of it)."""
    import json

    from lesionwatch.models.card import describe_card, read_card, resolve_model_dir

    folder = resolve_model_dir(name)
    card = read_card(folder)
    typer.echo(json.dumps(card.as_dict(), indent=2) if as_json else f"# {folder}\n{describe_card(card)}")


@models_app.command("ensemble")
def models_ensemble(
    members: Annotated[list[Path], typer.Argument(help="Model folders (e.g. the folds of a cross-validation).")],
    out: OutOpt,
    name: Annotated[str, typer.Option("--name", help="Name for the ensemble's card.")] = "lesionwatch-ensemble",
    threshold: Annotated[float, typer.Option("--threshold", min=0.01, max=0.99,
                                             help="Probability threshold (choose it on held-out data).")] = 0.5,
    min_volume: Annotated[float, typer.Option("--min-lesion-volume-mm3", min=0.0)] = 5.0,
) -> None:
    """Combine models of the same shape into one that averages them."""
    from lesionwatch.models.card import CARD_NAME
    from lesionwatch.workflows.train import combine_models

    if (out / CARD_NAME).exists() and not STATE.force:
        raise OutputExistsError(f"{out}: already holds a model; pass --force to replace it.")
    combine_models(members, out, name=name, threshold=threshold, min_lesion_volume_mm3=min_volume)
    typer.echo(f"ensemble of {len(members)} models written to {out}")
