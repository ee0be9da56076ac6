"""Request limits at the HTTP edge: the body cap (pure ASGI, it must not buffer), per-principal rates, and
the rates of subscribing to status pages."""

from __future__ import annotations

import time

import limits
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth import Principal


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with 413, by Content-Length up front or by counting as they stream."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"errors": [{"message": f"request body exceeds {self.max_bytes} bytes"}]}, status_code=413
        )
        await response(scope, receive, send)


class PrincipalRateLimit:
    """Requests per minute per principal (or per client address when anonymous), by the ``limits`` library.

    Counters live in ``rate_limit_storage``: in process memory by default, so each replica counts its own
    share; point it at Redis to count across replicas.

    A fixed window: one counter per key and minute, the cheapest check ``limits`` offers, paid by every
    request (the sliding window counter cost twice as much, a moving window far more: at thousands of
    requests a second each hit copied a list). The price is the window's edge: a client may spend this
    minute's allowance in its last second and the next minute's in the following one. The limit guards
    the service against floods, where that burst does not matter.
    """

    def __init__(self, per_minute: int, storage_url: str) -> None:
        self.item = limits.RateLimitItemPerMinute(per_minute)
        self.limiter = FixedWindowRateLimiter(storage_from_string(storage_url))

    async def admit(self, principal: Principal | None, client: tuple[str, int] | None) -> tuple[bool, int]:
        """Count one request (or WebSocket operation) of a caller: the principal, or the client's
        address when anonymous. Whether it may go on, and the seconds to wait when not."""
        if principal is not None:
            return await self.allow(f"{principal.issuer} {principal.subject}")
        return await self.allow(f"ip {client[0] if client else None}")

    async def allow(self, who: str) -> tuple[bool, int]:
        """Whether ``who`` may go on, and the seconds to wait when not."""
        if await self.limiter.hit(self.item, who):
            return True, 0
        stats = await self.limiter.get_window_stats(self.item, who)
        return False, max(1, int(stats.reset_time - time.time()) + 1)


class SubscribeThrottle:
    """Requests to subscribe an address to a status page, per hour: per client address, so that one
    client cannot flood the outbox, and per mail address asked for (whichever page), so that nobody can
    flood someone else's inbox with confirmation mails. A moving window: the counts are small, and an
    hour's allowance must not be spent twice across a window's edge.

    Every request counts, whatever the address's state, so that being refused tells nothing of it."""

    def __init__(self, *, per_client: int, per_address: int, storage_url: str) -> None:
        self._client = limits.RateLimitItemPerHour(per_client)
        self._address = limits.RateLimitItemPerHour(per_address)
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url))

    async def client_wait(self, client: tuple[str, int] | None) -> int:
        """Count a request of this client: 0 when it may go on, else the seconds to wait."""
        return await self._wait(self._client, "status-subscribe-client", client[0] if client else "unknown")

    async def address_wait(self, address: str) -> int:
        """Count a request for this (checked, lower-cased) mail address: 0 or the seconds to wait."""
        return await self._wait(self._address, "status-subscribe-address", address)

    async def _wait(self, item: limits.RateLimitItem, *keys: str) -> int:
        if await self._limiter.hit(item, *keys):
            return 0
        stats = await self._limiter.get_window_stats(item, *keys)
        return max(1, int(stats.reset_time - time.time()) + 1)


RATE_LIMITED = b'{"errors":[{"message":"rate limit exceeded","extensions":{"code":"LIMIT_EXCEEDED"}}]}'


def too_many_requests(retry_after: int) -> Response:
    return Response(
        RATE_LIMITED,
        status_code=429,
        media_type="application/json",
        headers={"Retry-After": str(retry_after)},
    )
