"""The `lesionwatch` command: parses arguments and calls one workflow per command.

Errors that lesionwatch raises on purpose are printed as one line naming the file and the problem, with exit code
2; a traceback is shown only with -v.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Annotated

import typer

from lesionwatch import __version__
from lesionwatch.errors import LesionwatchError
from lesionwatch.logging import configure_logging

log = logging.getLogger("lesionwatch.cli")


@dataclass
class GlobalOptions:
    """Options given before the command name."""

    verbosity: int = 0
    progress: bool = True
    force: bool = False


STATE = GlobalOptions()

app = typer.Typer(
    name="lesionwatch",
    help="Segment multiple sclerosis white-matter lesions on brain MRI and follow them over time.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lesionwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True,
                                         help="More detail; -v also shows tracebacks.")] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only warnings and errors.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars (for clusters/logs).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace existing output folders.")] = False,
) -> None:
    STATE.verbosity = -1 if quiet else verbose
    STATE.progress = not no_progress and not quiet
    STATE.force = force
    configure_logging(STATE.verbosity)


def _register_commands() -> None:
    # Imported here so that `lesionwatch --version` stays fast.
    from lesionwatch.cli import commands

    commands.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    _register_commands()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="lesionwatch", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.TyperException as exc:  # usage errors: unknown option, missing value...
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {exc.format_message()}", err=True)
        return int(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except LesionwatchError as exc:
        if STATE.verbosity > 0:
            log.exception("failed")
        typer.echo(f"error: {exc}", err=True)
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        typer.echo("interrupted; nothing half-written was left behind", err=True)
        return 130
    return 0
