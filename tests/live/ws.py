"""A small GraphQL-over-WebSocket client speaking both subprotocols, for tests against a real server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.waiting import PATIENCE

TRANSPORT = "graphql-transport-ws"
LEGACY = "graphql-ws"


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + "/graphql"


class Socket:
    """One WebSocket connection: ``init`` it, ``subscribe``, then read ``next`` results (data payloads)."""

    def __init__(self, connection: ClientConnection, protocol: str) -> None:
        self.connection = connection
        self.protocol = protocol

    @classmethod
    async def open(cls, base_url: str, protocol: str = TRANSPORT) -> Socket:
        connection = await connect(ws_url(base_url), subprotocols=[protocol], open_timeout=PATIENCE)  # type: ignore[list-item]
        assert connection.subprotocol == protocol
        return cls(connection, protocol)

    @classmethod
    async def connected(cls, base_url: str, token: str | None, protocol: str = TRANSPORT) -> Socket:
        socket = await cls.open(base_url, protocol)
        await socket.init({"authorization": f"Bearer {token}"} if token else {})
        ack = await socket.receive()
        assert ack["type"] == "connection_ack", ack
        return socket

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def init(self, payload: dict[str, Any]) -> None:
        await self.send({"type": "connection_init", "payload": payload})

    async def receive(self, within: float = PATIENCE) -> dict[str, Any]:
        """The next protocol message, keep-alives skipped."""
        while True:
            raw = await asyncio.wait_for(self.connection.recv(), within)
            message: dict[str, Any] = json.loads(raw)
            if message.get("type") not in {"ka", "ping", "pong"}:
                return message

    async def subscribe(self, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT else "start"
        await self.send(
            {"id": op_id, "type": kind, "payload": {"query": query, "variables": variables or {}}}
        )

    async def next(self, op_id: str | None = None, within: float = PATIENCE) -> dict[str, Any]:
        """The data of the next result; fails on anything else (an error, a completion)."""
        message = await self.receive(within)
        assert message["type"] in {"next", "data"}, message
        if op_id is not None:
            assert message["id"] == op_id, message
        assert not message["payload"].get("errors"), message
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def nothing_more(self, within: float = 0.5) -> None:
        """Nothing else arrives for a while. It can only miss a late stray message, never fail a correct
        server, so a busy machine makes it weaker, not flaky."""
        try:
            message = await self.receive(within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message}")

    async def close_code(self, within: float = PATIENCE) -> int | None:
        """Wait for the server to close the connection; its close code."""
        try:
            while True:
                await asyncio.wait_for(self.connection.recv(), within)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None

    async def close_reason(self, within: float = PATIENCE) -> tuple[int | None, str | None]:
        """Wait for the server to close the connection (messages before it skipped); its code and reason."""
        try:
            while True:
                await asyncio.wait_for(self.connection.recv(), within)
        except ConnectionClosed as closed:
            return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, None)

    async def close(self) -> None:
        await self.connection.close()


def errors_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The GraphQL errors an operation ended with, whatever the protocol's way of carrying them."""
    payload = message.get("payload")
    if message["type"] == "error":
        return payload if isinstance(payload, list) else [payload]
    assert message["type"] in {"next", "data"}, message
    errors: list[dict[str, Any]] = payload["errors"]
    return errors
