"""Who may change things: the bearer token of every mutating route, and which pages may call the API.

With ``ODDSTREAM_API_TOKEN`` set, a request by a mutating method (``POST``, ``PUT``, ``PATCH``,
``DELETE``) must carry ``Authorization: Bearer <token>``; without it, or with another token, it is
answered 401 before the view runs. Reading stays open: the board, runs and metrics are served to
anyone who can reach the port, as a reverse proxy in front may restrict (``docs/operations.md``).
The token is compared in constant time and never logged; a refusal is logged with the method, the
path and why (no header, another scheme, a wrong token), never with what was sent.

CORS is closed unless ``ODDSTREAM_CORS_ORIGINS`` lists origins: browsers then let those pages call
the API, with the ``Authorization`` header.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import structlog
from faust.web import Request, ResourceOptions, Response, View

__all__ = ["MUTATING", "REALM", "cors_options", "guarded", "refusal"]

log = structlog.get_logger(__name__)

MUTATING: Final = frozenset({"post", "put", "patch", "delete"})
"""The methods (as Faust names a view's handlers) that change something."""

REALM: Final = 'Bearer realm="oddstream"'

ViewFn = Callable[..., Awaitable[Response]]


def refusal(header: str | None, token: str) -> str | None:
    """Why a request whose ``Authorization`` header is ``header`` may not mutate; None when it may."""
    if not header:
        return "no Authorization header"
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return "the Authorization header is not a bearer token"
    # compare_digest takes as long for any token of a given length, right or wrong
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return "a wrong token"
    return None


def guarded(fn: ViewFn, token: str) -> ViewFn:
    """``fn`` answered only for a request with the right bearer token; 401 otherwise."""

    async def view(self: View, request: Request, **params: Any) -> Response:
        why = refusal(request.headers.get("Authorization"), token)
        if why is not None:
            log.warning("request_refused", method=request.method, path=request.url.path, reason=why)
            return self.json(
                {"error": f"this route needs Authorization: Bearer <ODDSTREAM_API_TOKEN> ({why})"},
                status=401,
                headers={"WWW-Authenticate": REALM},
            )
        return await fn(self, request, **params)

    return view


def cors_options(origins: str) -> Mapping[str, Any]:
    """Faust's ``web_cors_options`` for the comma-separated ``origins``; empty (closed) for none."""
    return {
        origin: ResourceOptions(
            allow_credentials=False,
            expose_headers=("Location",),
            allow_headers=("Authorization", "Content-Type", "Last-Event-ID"),
            max_age=600,
            allow_methods=("GET", "POST"),
        )
        for origin in origins.split(",")
        if origin
    }
