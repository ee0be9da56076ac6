"""A real uvicorn serving the real app on a loopback port, in a thread of the test process."""

from __future__ import annotations

import random
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from api.http_protocol import UVICORN_HTTP
from api.ws_protocol import UVICORN_WS
from tests.waiting import eventually


def _ephemeral_ports() -> range:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


def free_port() -> int:
    """A port nobody listens on now, for a server this process cannot hand a socket to (a subprocess).

    It is drawn below the kernel's ephemeral range, so that no outgoing connection of this run can be
    given it as a local port before the subprocess binds it. Prefer ``listening_socket`` where possible."""
    ceiling = min(_ephemeral_ports().start, 32768)
    while True:
        port = random.randrange(10_000, ceiling)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def listening_socket(port: int = 0) -> socket.socket:
    """A loopback socket bound to a port of its own (or to ``port`` again, to restart a server there),
    handed to uvicorn as it is, so no other process of a parallel run can take the port between choosing
    it and serving on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@contextmanager
def serve(
    app: ASGIApp, sock: socket.socket | None = None, *, http: Any = UVICORN_HTTP, ws_compression: bool = False
) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (``http://127.0.0.1:PORT``). ``http`` is
    uvicorn's protocol: by default the one `incidentdesk serve` uses, so every test's request goes
    through it; WebSockets are served as `incidentdesk serve` serves them (``ws_compression``: with
    permessage-deflate, as ``INCIDENTDESK_WS_COMPRESSION`` turns it on)."""
    sock = sock or listening_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        http=http,
        ws=UVICORN_WS,
        ws_per_message_deflate=ws_compression,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
        return server.started

    eventually(started, "the test server started")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


def stop_process(process: subprocess.Popen[Any], patience: float = 30.0) -> None:
    """Ask a server process to stop (SIGTERM, its graceful shutdown), and kill it if it does not."""
    process.terminate()
    try:
        process.wait(timeout=patience)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
