"""The HTTP protocol `incidentdesk serve` runs: one socket write per response, streams not held back.

uvicorn writes a response's head and body separately; ``OneWritePerResponse`` gathers what one turn of
the event loop writes. The tests count the writes that reach the real socket transport.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import httpx

from api.http_protocol import OneWritePerResponse
from tests.server import serve
from tests.waiting import PATIENCE

WRITES: list[int] = []  # real transport writes, one entry per write, its size


class _Counting:
    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(len(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CountingProtocol(OneWritePerResponse):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Counting(transport))  # type: ignore[arg-type]


released = threading.Event()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"text/plain")]
    if scope["path"] == "/small":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await send({"type": "http.response.body", "body": b" two"})
    elif scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
        # The rest waits for the client to have read the first line: held back, it never would.
        await asyncio.to_thread(released.wait, PATIENCE)
        await send({"type": "http.response.body", "body": b"second\n"})


def test_a_response_written_in_one_turn_reaches_the_socket_in_one_write() -> None:
    with serve(app, http=CountingProtocol) as url, httpx.Client() as client:
        WRITES.clear()
        for _ in range(3):  # keep-alive: one connection, three responses
            answer = client.get(f"{url}/small")
            assert answer.status_code == 200 and answer.text == "one two"
        assert len(WRITES) == 3, WRITES


def test_a_streamed_response_goes_out_as_it_is_produced() -> None:
    released.clear()
    with (
        serve(app, http=CountingProtocol) as url,
        socket.create_connection(
            (url.removeprefix("http://").split(":")[0], int(url.rsplit(":", 1)[1])), timeout=PATIENCE
        ) as raw,
    ):
        raw.sendall(b"GET /stream HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        received = b""
        while b"first\n" not in received:
            chunk = raw.recv(4096)
            assert chunk, received
            received += chunk
        assert b"second" not in received
        released.set()
        while chunk := raw.recv(4096):
            received += chunk
        assert received.endswith(b"0\r\n\r\n") and b"second\n" in received
