"""Serving a scrape: ``GET /metrics``, behind a bearer token when one is set, on the app's port or on a
port of its own.

A separate port (``INCIDENTDESK_METRICS_PORT``) keeps the metrics off the public listener without a
proxy rule: a small uvicorn server, started and stopped with the app's other workers, answers
``/metrics`` alone. Each process binds it with ``SO_REUSEPORT``, so ``incidentdesk serve --workers N``
starts as it does on the main port (every scrape is then answered by one of the processes, as there).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.background import Worker

log = logging.getLogger(__name__)

Scrape = Callable[[], Awaitable[tuple[bytes, str]]]


def metrics_route(scrape: Scrape, token: SecretStr | None) -> Route:
    """``GET /metrics``: the exposition ``scrape`` renders, to a caller with the token when one is set."""
    expected = f"Bearer {token.get_secret_value()}".encode() if token is not None else None

    async def metrics(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode("latin-1")
            # Constant time: how long the comparison takes says nothing of how much of the token matched.
            if not hmac.compare_digest(given, expected):
                return Response(
                    "a bearer token is required\n",
                    status_code=401,
                    media_type="text/plain",
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        body, content_type = await scrape()
        return Response(body, media_type=content_type)

    return Route("/metrics", metrics, methods=["GET"])


class _Unsignalled(uvicorn.Server):
    """A uvicorn server that leaves the process's signals alone: the app's own server handles them, and
    this one stops with the app's workers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class MetricsServer(Worker):
    """``/metrics`` on a port of its own, beside the app."""

    name = "metrics-server"

    def __init__(self, route: Route, *, host: str, port: int) -> None:
        super().__init__()
        self.host = host
        self.port = port
        config = uvicorn.Config(
            Starlette(routes=[route]),
            lifespan="off",
            # Both None: uvicorn leaves the process's logging as it is. A level or access_log=False here
            # would be applied to uvicorn's loggers process-wide, the app's own server's included;
            # scrapes are access-logged like the app's requests.
            log_config=None,
            log_level=None,
        )
        self.server = _Unsignalled(config)
        self._socket: socket.socket | None = None

    def on_start(self) -> None:
        # Bound here, not in the loop: a port already taken fails the app's startup, loudly.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((self.host, self.port))
            # Listening from now on: a scrape arriving before the server's loop runs waits in the backlog
            # instead of being refused.
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self._socket = sock

    async def run(self) -> None:
        assert self._socket is not None
        await self.server.serve(sockets=[self._socket])

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Let the server finish the scrape in flight and close, then end the loop."""
        task = self._task
        self.server.should_exit = True
        if task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), grace_seconds)
        await super().stop()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
