"""What the web server's access control is made of: the loopback host names and how a Host or Origin header is
read, the request-size limit that holds for chunked uploads too, and the security headers on every response."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
"""The names a loopback server answers to (`lesionwatch serve` without --host)."""

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                    "Cross-Origin-Opener-Policy": "same-origin"}
"""Headers on every response: no MIME sniffing, no framing by other sites, no referrer leaving the server."""


def host_name(value: str) -> str:
    """The host of a Host header or an Origin's authority, without port or IPv6 brackets, lower case."""
    value = value.strip().lower().split("://", 1)[-1].split("/", 1)[0]
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class RequestTooLargeError(Exception):
    """A request body grew past the limit while it was being read."""


class BodySizeLimit:
    """ASGI middleware that stops reading a request body past `max_bytes`, whatever its Content-Length says (a
    chunked upload declares none): the request then fails with 413 (`RequestTooLargeError`, answered by the guard)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited() -> Any:
            nonlocal received
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestTooLargeError
            return message

        await self.app(scope, limited, send)


def secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response
