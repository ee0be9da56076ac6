"""While the database is away (its connections killed, a restart), requests fail cleanly and fast.

A request whose database work cannot reach PostgreSQL answers 503 with ``Retry-After`` (HTTP routes), or
a top-level ``UNAVAILABLE`` error (GraphQL, see ``api.errors.unavailable``); it never hangs, never
answers a masked fault, and the next request after the database is back succeeds: the pool checks a
connection before using it and replaces the dead ones.
"""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.db import is_unavailable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1


def service_unavailable() -> JSONResponse:
    return JSONResponse(
        {
            "errors": [
                {
                    "message": "the service is briefly unavailable (its database); retry shortly",
                    "extensions": {"code": "UNAVAILABLE"},
                }
            ]
        },
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class DatabaseUnavailable:
    """Pure ASGI: an exception saying the database is unreachable becomes a 503 (when no response has
    started yet); anything else passes through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            if started or not is_unavailable(error):
                raise
            log.warning("database unavailable for %s %s: %s", scope.get("method"), scope.get("path"), error)
            await service_unavailable()(scope, receive, send)
