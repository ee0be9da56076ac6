"""Every HTTP request and WebSocket connection carries a request id, from ``X-Request-Id`` or made here.

The id is echoed in the response's ``X-Request-Id`` and held in a context variable for the whole of the
request's work, tasks it starts included (asyncio copies the context into them), so logs can name it and
anything can tell a request's own work from the process's background work.
"""

from __future__ import annotations

import itertools
import os
import re
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"

# A caller's id is kept when it is a plain token of reasonable length; anything else is replaced, so
# that no client can put arbitrary text into logs.
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

current_request_id: ContextVar[str | None] = ContextVar("incidentdesk_request_id", default=None)

# New ids are this process's random prefix and a counter: unique across replicas and restarts without a
# call into the kernel's random source on every request (an id names a request; it guards nothing).
_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count(1)


def chosen_id(given: bytes | None) -> str:
    """The caller's id when it is acceptable, else a new one."""
    if given is not None:
        candidate = given.decode("latin-1")
        if _ACCEPTABLE.fullmatch(candidate):
            return candidate
    return f"{_PREFIX}{next(_COUNTER):016x}"


# Where a request's id is kept once chosen: the request log (outermost), the door and this middleware all
# name the request by the same id.
_SCOPE_KEY = "incidentdesk.request_id"


def request_id_of(scope: Scope) -> str:
    """The request's id: chosen once, from its ``X-Request-Id`` or new, and the same on every later ask."""
    known: str | None = scope.get(_SCOPE_KEY)
    if known is None:
        given = next((value for name, value in scope.get("headers", []) if name == HEADER.encode()), None)
        known = scope[_SCOPE_KEY] = chosen_id(given)
    return known


class RequestId:
    """Pure ASGI (WebSocket scopes too, which Starlette's ``BaseHTTPMiddleware`` never sees)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = current_request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                headers[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)
