"""The WebSocket protocol's direct text frames: the same bytes the websockets library would write, used
when nothing stands in the way, and refused (so the message goes the ASGI way) when something does."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from api.ws_protocol import direct_sender, text_frame
from tests.server import serve
from tests.waiting import PATIENCE


def _parsed(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("an incomplete frame")


@given(
    st.one_of(st.text(max_size=200), st.integers(120, 70_000).map(lambda n: "é" * (n // 2) + "x" * (n % 2)))
)
def test_a_direct_frame_is_what_the_websockets_library_reads(text: str) -> None:
    frame = _parsed(text_frame(text.encode()))
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data.decode() == text
    assert frame == Frame(Opcode.TEXT, text.encode())


# What the app answered for each message: True when it was written directly.
_written: list[bool] = []


async def _echo(websocket: WebSocket) -> None:
    await websocket.accept()
    direct = direct_sender(websocket.scope)
    assert direct is not None
    async for text in websocket.iter_text():
        for size in (10, 300, 70_000):
            message = f"{text}:{'x' * size}"
            if direct(message.encode()):
                _written.append(True)
            else:
                _written.append(False)
                await websocket.send_text(message)


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "compressed"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, bool]]:
    with serve(Starlette(routes=[WebSocketRoute("/echo", _echo)]), ws_compression=request.param) as url:
        yield url, request.param


async def test_messages_arrive_in_order_written_directly_unless_an_extension_was_agreed(
    served: tuple[str, bool],
) -> None:
    base_url, compressed = served
    direct = not compressed
    _written.clear()
    url = base_url.replace("http://", "ws://", 1) + "/echo"
    async with connect(url, compression="deflate", max_size=None, open_timeout=PATIENCE) as connection:  # type: ignore[arg-type]
        for word in ("a", "b"):
            await connection.send(word)
        received = [await asyncio.wait_for(connection.recv(), PATIENCE) for _ in range(6)]
    assert [(text.split(":")[0], len(text)) for text in received] == [
        (word, len(word) + 1 + size) for word in ("a", "b") for size in (10, 300, 70_000)
    ]
    assert _written == [direct] * 6
