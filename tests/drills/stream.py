"""A steady stream against a live server, for failure drills: writers posting comments and followers
subscribed to the timeline, each keeping count of what happened to it.

A writer sorts every answer: a success (the comment committed, its event's cursor known), a clean
failure (a 503 or a GraphQL ``UNAVAILABLE`` error, answered at once), a refused connection (the server not
accepting any more), or anything else, which no drill tolerates (a masked fault, a 500, a dropped
response, a hang).

A follower is a subscriber as a careful client writes one: when its subscription ends or its connection
drops, it subscribes again with ``after`` set to the last cursor it received, so it expects every
committed event exactly once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus

from api.errors import MASKED_MESSAGE
from tests.live.ws import Socket
from tests.waiting import PATIENCE

COMMENT = (
    "mutation($id: ID!, $body: String!) { addComment(input: {id: $id, body: $body}) "
    "{ event { cursor } userErrors { message } } }"
)
FOLLOW = 'subscription($after: String) { incidentEvents(tenant: "acme", after: $after) { cursor } }'


@dataclass
class Tally:
    committed: list[str] = field(default_factory=list)  # cursors of comments answered as committed
    clean_failures: int = 0
    refused: int = 0
    # Bodies of requests whose connection closed without an answer: only a stopping server may do that,
    # and only to a request it had not read (so it must never have committed).
    dropped: list[str] = field(default_factory=list)
    unclean: list[str] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return len(self.committed) + self.clean_failures


def sort_answer(tally: Tally, response: httpx.Response) -> None:
    text = response.text
    if response.status_code == 503:
        tally.clean_failures += 1
        return
    if response.status_code != 200 or MASKED_MESSAGE in text:
        tally.unclean.append(f"{response.status_code}: {text[:300]}")
        return
    body = response.json()
    errors = body.get("errors") or []
    if errors:
        if all((e.get("extensions") or {}).get("code") == "UNAVAILABLE" for e in errors):
            tally.clean_failures += 1
        else:
            tally.unclean.append(text[:300])
        return
    payload = body["data"]["addComment"]
    if payload["userErrors"]:
        tally.unclean.append(text[:300])
        return
    tally.committed.append(payload["event"]["cursor"])


@dataclass
class Writers:
    url: str
    token: str
    incident: str
    count: int = 3
    # A new connection per request: a stopped server then refuses it rather than closing a kept-alive one.
    fresh_connections: bool = False
    tally: Tally = field(default_factory=Tally)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._write(i)) for i in range(self.count)]

    async def stop(self) -> Tally:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return self.tally

    async def _write(self, writer: int) -> None:
        headers = {"authorization": f"Bearer {self.token}"}
        limits = httpx.Limits(max_keepalive_connections=0) if self.fresh_connections else httpx.Limits()
        async with httpx.AsyncClient(base_url=self.url, timeout=PATIENCE, limits=limits) as http:
            while not self._stop.is_set():
                body = f"steady {writer} {uuid.uuid4().hex[:8]}"
                try:
                    response = await http.post(
                        "/graphql",
                        json={"query": COMMENT, "variables": {"id": self.incident, "body": body}},
                        headers=headers,
                    )
                except httpx.ConnectError:
                    self.tally.refused += 1
                    await asyncio.sleep(0.05)
                    continue
                except (httpx.RemoteProtocolError, httpx.ReadError):
                    self.tally.dropped.append(body)
                    continue
                except httpx.HTTPError as error:
                    self.tally.unclean.append(f"{type(error).__name__}: {error}")
                    continue
                sort_answer(self.tally, response)
                if response.status_code != 200:
                    await asyncio.sleep(0.05)


@dataclass
class Follower:
    """A subscriber that resumes after whatever happens to its connection."""

    url: str
    token: str
    after: str
    received: list[str] = field(default_factory=list)
    resumed: int = 0
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def last(self) -> str:
        return self.received[-1] if self.received else self.after

    async def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                socket = await Socket.connected(self.url, self.token)
            except (OSError, ConnectionClosed, InvalidStatus, TimeoutError, AssertionError):
                await asyncio.sleep(0.1)
                continue
            try:
                await socket.subscribe("1", FOLLOW, {"after": self.last})
                while True:
                    message = await socket.receive(within=PATIENCE * 10)
                    if message.get("type") in {"next", "data"} and not message["payload"].get("errors"):
                        self.received.append(message["payload"]["data"]["incidentEvents"]["cursor"])
                    else:
                        break  # an error or a completion: resume from the last cursor
            except (ConnectionClosed, OSError, TimeoutError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    await socket.close()
            self.resumed += 1
            await asyncio.sleep(0.05)


def cursors(rows: list[Any]) -> list[str]:
    from api.relay import encode_cursor

    return [encode_cursor([seq]) for (seq,) in rows]
