"""Requests answered at the door, ahead of the middleware stack: the hot paths.

A GraphQL query over HTTP that compiled reads answer, and an alert posted to the intake, need none of
what the stack does for other requests (idempotency keys, CORS, Starlette's request objects and error
handling), and both come by the thousand. ``QuickAnswers`` runs before the stack, does what such a
request does need itself (the body cap, a request id, the metrics; the door itself authenticates and
rate-limits), and answers. Whatever a door does not answer goes on through the whole stack exactly as
before, with the body replayed (and, for GraphQL, the caller's admission remembered), so nothing is
checked or counted twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Protocol

from starlette.types import Message, Receive, Scope, Send

from api.request_id import HEADER, current_request_id, request_id_of

if TYPE_CHECKING:
    from api.metrics import Metrics

log = logging.getLogger(__name__)

Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]


class Door(Protocol):
    """An endpoint that answers some requests at the door: (status, JSON body, extra headers), or None
    for the whole stack to answer."""

    @property
    def methods(self) -> Collection[str]: ...

    async def quick_answer(self, scope: Scope, headers: dict[bytes, bytes], body: bytes) -> Answer | None: ...


def replaying(body: bytes) -> Receive:
    """A receive channel that hands the app the body already read."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


class QuickAnswers:
    def __init__(
        self, doors: Mapping[str, Door], metrics: Metrics, *, max_body_bytes: int, cors: bool
    ) -> None:
        self.doors = dict(doors)
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.cors = cors

    def takes(self, scope: Scope) -> bool:
        if scope["type"] != "http":
            return False
        door = self.doors.get(scope["path"])
        return door is not None and scope["method"] in door.methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """None when the request is answered; else the channel the rest of the app reads its body from."""
        headers = dict(scope["headers"])
        if b"idempotency-key" in headers or (self.cors and b"origin" in headers):
            return receive
        body = b""
        if scope["method"] == "POST":
            length = headers.get(b"content-length", b"")
            if not length.isdigit() or int(length) > self.max_body_bytes:
                return receive  # the body cap (or a streamed body) is the stack's to judge
            body = await _read(receive)
            receive = replaying(body)
            if len(body) > self.max_body_bytes:
                return receive
        started = time.perf_counter()
        request_id = request_id_of(scope)
        token = current_request_id.set(request_id)
        try:
            answer = await self.doors[scope["path"]].quick_answer(scope, headers, body)
        except Exception:
            # A fault is the whole stack's to answer (masked, logged): it meets the same request again.
            log.exception("answering at the door failed; the stack answers instead")
            return receive
        finally:
            current_request_id.reset(token)
        if answer is None:
            return receive
        status, payload, extra = answer
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (HEADER.encode(), request_id.encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        self.metrics.record(scope["method"], scope["path"], status, time.perf_counter() - started)
        return None


async def _read(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)
