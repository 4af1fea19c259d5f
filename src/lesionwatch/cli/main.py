"""The `lesionwatch` command: parses arguments and calls one workflow per command.

Errors that lesionwatch raises on purpose are printed as one line naming the file and the problem, with the
error's exit code (2: bad input or usage; 1: a failed analysis or task); an interrupt (Ctrl-C, SIGINT, SIGTERM) exits
130 with nothing half-written left behind; a traceback is shown only with -v.
"""

from __future__ import annotations

import contextlib
import logging
import signal
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
    force: Annotated[bool, typer.Option(
        "--force", help="Replace existing output folders; analyse an input that looks implausible (a FLAIR with "
        "another contrast, a follow-up of two heads), recording why.")] = False,
) -> None:
    STATE.verbosity = -1 if quiet else verbose
    STATE.progress = not no_progress and not quiet
    STATE.force = force
    configure_logging(STATE.verbosity)


def _register_commands() -> None:
    # Imported here so that `lesionwatch --version` stays fast.
    from lesionwatch.cli import commands

    commands.register(app)


EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
"""Exit codes: success; a failed analysis or task; bad input or usage; interrupted (SIGINT or SIGTERM)."""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _catch_signals() -> None:
    """SIGINT and SIGTERM (what a scheduler or `kill` sends) interrupt the run through the same clean-up path as
    Ctrl-C, also where the shell started the command with SIGINT ignored (a background job)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):  # not the main thread (embedded use)
            signal.signal(sig, _interrupt)


def _os_error_line(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"error: {where}{exc.strerror or exc}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code (`EXIT_*`), after one line saying what went
    wrong, if anything did (a traceback only with -v)."""
    _catch_signals()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        _register_commands()
        result = app(args=args, prog_name="lesionwatch", standalone_mode=False)
    except typer.Exit as exc:
        return _exit_code(int(exc.exit_code or 0))
    except typer.TyperException as exc:  # usage errors: unknown option, missing value...
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {exc.format_message()}", err=True)
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return _exit_code(EXIT_INTERRUPTED)
    except LesionwatchError as exc:
        if STATE.verbosity > 0:
            log.exception("failed")
        typer.echo(f"error: {exc}", err=True)
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    except OSError as exc:  # read-only or full disk, a vanished file: the system's words, no traceback
        if STATE.verbosity > 0:
            log.exception("failed")
        typer.echo(_os_error_line(exc), err=True)
        return EXIT_USAGE if isinstance(exc, PermissionError) else EXIT_FAILED
    # standalone_mode=False hands back a command's typer.Exit code instead of raising it, and typer turns
    # KeyboardInterrupt into Exit(130)
    return _exit_code(int(result) if isinstance(result, int) else EXIT_OK)


def _exit_code(code: int) -> int:
    if code == EXIT_INTERRUPTED:
        typer.echo("interrupted; nothing half-written was left behind", err=True)
    return code
