"""One log line per HTTP request, per WebSocket connection and per operation run over a WebSocket.

A line says which request it was (its id, echoed in ``X-Request-Id``), who asked (principal, tenant
scope), what (method and path; the GraphQL operation's name and type), how long it took, its status and
its outcome: ``ok``, ``client_error``, ``server_error``, or ``client_gone`` when the client left before
its answer. It never carries what a request held: no headers (tokens), no query string, no body, no
variables' values, no comment text; the code deeper in that knows who and what adds those facts by name
(``annotate``, ``note_error``) to the line of the request it serves.

A client that goes away is routine (a closed tab, a timeout, a deploy elsewhere): it is one INFO line,
never an ERROR with a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketDisconnected
from strawberry.http.exceptions import WebSocketDisconnected as StrawberryWebSocketDisconnected
from uvicorn.protocols.utils import ClientDisconnected
from websockets.exceptions import ConnectionClosed

from api.request_id import request_id_of

if TYPE_CHECKING:
    from auth import Principal

log = logging.getLogger("incidentdesk.requests")

# The facts of the request (or WebSocket operation) being served, filled in by the code that learns them.
_facts: ContextVar[dict[str, Any] | None] = ContextVar("incidentdesk_request_facts", default=None)

OK, CLIENT_ERROR, SERVER_ERROR, CLIENT_GONE = "ok", "client_error", "server_error", "client_gone"


def annotate(**facts: Any) -> None:
    """Add facts to the line of the request being served (nothing outside a request)."""
    found = _facts.get()
    if found is not None:
        found.update(facts)


def annotate_caller(principal: Principal | None, tenant_ids: Collection[uuid.UUID] | None = None) -> None:
    """Who called, and in which tenants: the principal's subject (and client id), never its token."""
    if principal is None:
        annotate(principal=None)
    else:
        annotate(principal=principal.subject, client_id=principal.client_id)
    if tenant_ids is not None:
        annotate(tenants=sorted(str(tenant_id) for tenant_id in tenant_ids))


def annotate_operation(name: str | None, kind: str | None) -> None:
    """The GraphQL operation run: its name as the document spells it and its type (query, mutation...)."""
    annotate(operation=name, operation_type=kind)


def note_error(code: str, *, fault: bool) -> None:
    """A GraphQL error of the request: its code only (messages may quote the caller's input)."""
    found = _facts.get()
    if found is None:
        return
    found.setdefault("errors", []).append(code)
    if fault:
        found["fault"] = True


def outcome(status: int | None, facts: dict[str, Any]) -> str:
    if facts.pop("fault", False) or (status is not None and status >= 500):
        return SERVER_ERROR
    if facts.get("errors") or (status is not None and status >= 400):
        return CLIENT_ERROR
    return OK


def _level(result: str) -> int:
    return logging.ERROR if result == SERVER_ERROR else logging.INFO


def _milliseconds(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


class RequestLog:
    """Pure ASGI, outermost: it sees every request, those answered at the door (``api/quick.py``) too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        facts: dict[str, Any] = {"request_id": request_id_of(scope)}
        token = _facts.set(facts)
        started = time.perf_counter()
        status: int | None = None
        answered = gone = False

        async def recording_receive() -> Message:
            nonlocal gone
            message = await receive()
            # Gone before its answer was sent: whatever the app answered then, nobody read it.
            gone = gone or (message["type"] == "http.disconnect" and not answered)
            return message

        async def recording_send(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True
            await send(message)

        result: str | None = None
        try:
            await self.app(scope, recording_receive, recording_send)
            if gone:
                result = CLIENT_GONE
        except ClientDisconnect:
            # The client left while its body was read: nobody is there to answer, and nothing failed
            # (a 500 Starlette's error middleware started for it reached no one: no status).
            result, status = CLIENT_GONE, None
        except BaseException:
            result = SERVER_ERROR
            raise
        finally:
            _facts.reset(token)
            result = result or outcome(status, facts)
            facts.pop("fault", None)
            log.log(
                _level(result),
                "request",
                extra={
                    **facts,
                    "method": scope["method"],
                    # The path only: a query string may carry a GraphQL document and its variables.
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": _milliseconds(started),
                    "outcome": result,
                },
            )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        facts: dict[str, Any] = {"request_id": request_id_of(scope)}
        token = _facts.set(facts)
        started = time.perf_counter()
        code: int | None = None

        async def recording_receive() -> Message:
            nonlocal code
            message = await receive()
            if message["type"] == "websocket.disconnect" and code is None:
                code = message.get("code", 1000)
            return message

        async def recording_send(message: Message) -> None:
            nonlocal code
            if message["type"] == "websocket.close" and code is None:
                code = message.get("code", 1000)
            await send(message)

        result = OK
        try:
            await self.app(scope, recording_receive, recording_send)
        except BaseException:
            result = SERVER_ERROR
            raise
        finally:
            _facts.reset(token)
            facts.pop("fault", None)
            facts.pop("errors", None)  # the operations' own lines carry theirs
            log.log(
                _level(result),
                "websocket",
                extra={
                    **facts,
                    "path": scope["path"],
                    "close_code": code,
                    "duration_ms": _milliseconds(started),
                    "outcome": result,
                },
            )


# How an operation ends when its connection does (the client left, or the server is shutting down and
# closed it): not a fault of the operation.
_STOPPED = (
    asyncio.CancelledError,
    WebSocketDisconnect,
    WebSocketDisconnected,
    StrawberryWebSocketDisconnected,
    ConnectionClosed,
    ClientDisconnected,
)


@asynccontextmanager
async def operation_logged(operation_id: str, name: str | None, kind: str | None) -> AsyncIterator[None]:
    """One line for an operation run over a WebSocket, when it ends: completed (``ok``, or the errors
    its result carried), stopped by the client or the connection's end (``stopped``), or failed. Its
    facts start from the connection's (request id, caller) and are its own from then on."""
    connection = _facts.get() or {}
    facts: dict[str, Any] = {
        key: value
        for key, value in connection.items()
        if key in ("request_id", "principal", "client_id", "tenants")
    }
    facts.update(operation_id=operation_id, operation=name, operation_type=kind)
    token = _facts.set(facts)
    started = time.perf_counter()
    result: str | None = None
    try:
        yield
    except BaseException as error:
        result = "stopped" if isinstance(error, _STOPPED) else SERVER_ERROR
        if result == SERVER_ERROR:
            facts["error"] = type(error).__name__  # the class only: a message may quote the input
        raise
    finally:
        _facts.reset(token)
        result = result or outcome(None, facts)
        facts.pop("fault", None)
        log.log(
            _level(result),
            "websocket operation",
            extra={**facts, "duration_ms": _milliseconds(started), "outcome": result},
        )
