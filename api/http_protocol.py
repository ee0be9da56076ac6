"""uvicorn's HTTP protocol, writing each response to the socket once instead of once per ASGI message.

uvicorn writes the status line and headers when the app sends ``http.response.start`` and the body when
it sends ``http.response.body``: two ``send`` system calls, two TCP segments, and two wake-ups of the
reader for every small response. Under load those calls were half of the server's CPU for a small query.
Node's HTTP server corks the socket for a response and uncorks it on the next tick; this does the same:
writes made during one turn of the event loop go out together at its end. A streamed response still
goes out chunk by chunk, each at the end of the turn that produced it.

Served by ``incidentdesk serve`` (``http=`` in uvicorn's config); nothing else about uvicorn changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# How uvicorn's config names it (``http=``): an import path, which worker processes resolve themselves.
UVICORN_HTTP = "api.http_protocol:OneWritePerResponse"


class _WritesPerTurn:
    """A transport that gathers the writes of one event-loop turn into one write to the real one.

    Everything but writing and closing goes straight to the real transport (flow control, extra info,
    ``set_protocol`` on a WebSocket upgrade), so the protocols above it see the transport they expect.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def write_now(self, data: bytes) -> None:
        """Write at once (a live message to one of thousands of sockets: no callback per socket),
        unless writes of this turn wait, which go first."""
        if self._pending:
            self.write(data)
        elif not self._transport.is_closing():
            self._transport.write(data)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(chunk) for chunk in self._pending)

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWritePerResponse(HttpToolsProtocol):
    """uvicorn's httptools protocol over a transport that writes once per event-loop turn."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows asyncio's type
        super().connection_made(_WritesPerTurn(transport, self.loop))  # type: ignore[arg-type]  # a Transport by delegation
