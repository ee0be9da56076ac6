"""A webhook receiver on loopback, as a partner would run one: it checks every Standard Webhooks signature
and answers according to the path it was given (``/ok/...``, ``/flaky/...``, ``/down/...``, ``/slow/...``).

A ``/slow/...`` request is held unanswered until the test calls ``release()``: the sender's timeout then
fires whatever the machine's speed, instead of racing a sleep.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.server import serve
from tests.waiting import eventually


@dataclass(frozen=True)
class Receipt:
    mode: str
    name: str
    message_id: str
    status: int
    verified: bool
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def seq(self) -> int:
        return int(self.body["data"]["event"]["seq"])

    @property
    def incident(self) -> str:
        return str(self.body["data"]["incident"]["id"])

    @property
    def kind(self) -> str:
        return str(self.body["data"]["event"]["kind"])


@dataclass
class Receiver:
    url: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    receipts: list[Receipt] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Created on the receiver's own event loop (it runs in the server's thread) by its first slow request.
    _released: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _release_requested: bool = False

    def release(self) -> None:
        """Answer every held slow request, and every later one at once."""
        with self._lock:
            self._release_requested = True
            if self._loop is not None and self._released is not None:
                self._loop.call_soon_threadsafe(self._released.set)

    async def _held(self) -> None:
        with self._lock:
            if self._released is None:
                self._loop = asyncio.get_running_loop()
                self._released = asyncio.Event()
                if self._release_requested:
                    self._released.set()
            released = self._released
        await released.wait()

    def target(self, mode: str, name: str) -> str:
        return f"{self.url}/{mode}/{name}"

    def of(self, name: str) -> list[Receipt]:
        with self._lock:
            return [r for r in self.receipts if r.name == name]

    def wait(self, name: str, done: Callable[[list[Receipt]], bool]) -> list[Receipt]:
        seen: list[Receipt] = []

        def arrived() -> bool:
            nonlocal seen
            seen = self.of(name)
            return done(seen)

        try:
            eventually(arrived, f"receiver {name}", every=0.05)
        except AssertionError as gave_up:
            raise AssertionError(f"{gave_up}: saw {[(r.kind, r.status) for r in seen]}") from None
        return seen

    async def handle(self, request: Request) -> Response:
        mode, name = request.path_params["mode"], request.path_params["name"]
        body = await request.body()
        headers = dict(request.headers)
        verified = True
        try:
            Webhook(self.secrets[name]).verify(body, headers)
        except (KeyError, WebhookVerificationError):
            verified = False
        message_id = headers.get("webhook-id", "")
        with self._lock:
            earlier = [r for r in self.receipts if r.name == name and r.message_id == message_id]
        if not verified:
            status = 401
        elif mode == "flaky" and not earlier:
            status = 500
        elif mode == "down":
            status = 503
        else:
            status = 200
        if mode == "slow":
            await self._held()
        receipt = Receipt(mode, name, message_id, status, verified, json.loads(body), headers)
        with self._lock:
            self.receipts.append(receipt)
        return Response(status_code=status)


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/{mode}/{name}", receiver.handle, methods=["POST"])])
    with serve(app) as url:
        receiver.url = url
        try:
            yield receiver
        finally:
            receiver.release()
