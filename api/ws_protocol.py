"""uvicorn's WebSocket protocol, with a short way for a live message to reach the socket.

A live event goes out to thousands of subscribers as thousands of text messages. Sent the ASGI way, each
one passes through every middleware's ``send`` wrapper, Starlette's state checks, uvicorn's queueing of
the ASGI event and the websockets library's frame builder: under load those layers were half of the
server's CPU. A server's text frame is a two-to-ten-byte header and the UTF-8 text (RFC 6455, section
5.2: unmasked, one frame), so this protocol offers the app, as an ASGI scope extension, a function that
writes it directly when nothing stands in the way.

It answers False, and the message goes the ASGI way, whenever the direct write would skip something: the
handshake is not complete, a close was sent or received, an extension (permessage-deflate) was agreed,
or the socket is applying back-pressure (uvicorn's ``writable`` event is clear: the ASGI path waits for
it, and a slow reader holds back only its own subscriptions). Frames written either way go out in the
order they were given.

Served by ``incidentdesk serve`` and the test server (``ws=`` in uvicorn's config).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, MutableMapping
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

# How uvicorn's config names it (``ws=``): an import path, which worker processes resolve themselves.
UVICORN_WS = "api.ws_protocol:DirectTextFrames"
# The scope extension: ``send_text(message) -> bool`` (the text, UTF-8 encoded), True when it was written.
SEND_TEXT = "incidentdesk.websocket.send_text"

SendText = Callable[[bytes], bool]


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame (RFC 6455 section 5.2), as a server sends it."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


def direct_sender(scope: MutableMapping[str, Any]) -> SendText | None:
    """The connection's direct writer, when its server offers one."""
    sender: SendText | None = scope.get("extensions", {}).get(SEND_TEXT)
    return sender


class DirectTextFrames(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, offering ``SEND_TEXT`` in each connection's scope."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope.setdefault("extensions", {})[SEND_TEXT] = self.send_text_now

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake's request and response are never read again: not kept for the connection's
            # whole life (a few KB each, for thousands of idle connections). The request's parser keeps
            # the request object itself, so its headers are emptied too (the scope has its own copy).
            if self.request is not None:
                self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]

    def send_text_now(self, message: bytes) -> bool:
        """Write one text message (UTF-8 encoded) now; False when it must go the ASGI way (see the
        module's docstring)."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.initial_response is not None
            or not self.writable.is_set()
            or self.conn.extensions
            or self.conn.state is not State.OPEN
            or self.transport.is_closing()
        ):
            return False
        write_now = getattr(self.transport, "write_now", self.transport.write)
        write_now(text_frame(message))
        return True
