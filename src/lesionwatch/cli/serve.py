"""`lesionwatch serve`: the web application."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lesionwatch.errors import ConfigError, MissingDependencyError

MIN_TOKEN_CHARS = 22
"""URL-safe base64 characters (6 bits each) of a 128-bit token."""


def serve(
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8765,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where jobs and their results are kept.")] = Path(
        "lesionwatch-web"),
    token: Annotated[str | None, typer.Option(
        "--token", help="Access token (required off loopback: at least 22 URL-safe characters, generated if not "
        "given; LESIONWATCH_TOKEN keeps it out of the process list).")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=16, help="Jobs run at the same time.")] = 1,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", min=1, help="Largest uploaded file.")] = 512,
) -> None:
    """Start the web application (upload, progress, 2D/3D viewer, follow-up comparison)."""
    import secrets

    try:
        import uvicorn

        from lesionwatch.web.app import create_app
        from lesionwatch.web.security import LOOPBACK_HOSTS
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("lesionwatch"):
            raise
        raise MissingDependencyError.for_extra("web", "lesionwatch serve") from exc
    from lesionwatch.paths import web_token
    from lesionwatch.web.uploads import UploadLimits

    loopback = host in ("127.0.0.1", "localhost", "::1")
    token = web_token() if token is None else token
    if not loopback and token is None:
        token = secrets.token_urlsafe(24)
    if not loopback and token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"--token of {len(token)} characters on {host}: off this machine the token must carry at "
                          f"least 128 bits ({MIN_TOKEN_CHARS} URL-safe characters); omit it to have one generated")
    app = create_app(data_dir, token=token, workers=workers,
                     limits=UploadLimits(max_file_bytes=max_upload_mb * 2 ** 20),
                     allowed_hosts=LOOPBACK_HOSTS if loopback else None)
    shown = "localhost" if loopback else host
    typer.echo(f"lesionwatch web on http://{shown}:{port}/" + (f"?token={token}" if token else ""))
    uvicorn.run(app, host=host, port=port, log_level="warning")
