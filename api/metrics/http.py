"""HTTP answers by method, route template and status, counted by a pure ASGI middleware."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Recorder(Protocol):
    def record(self, method: str, route: str, status: int, seconds: float) -> None: ...


class HttpRequests:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "incidentdesk_http_requests_total",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "incidentdesk_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["method", "route"],
            registry=registry,
        )
        self._bound: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        bound = self._bound.get((method, route, status))
        if bound is None:
            # Few routes, methods and statuses: their labelled series are looked up once each.
            bound = self._bound[(method, route, status)] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        bound[0].inc()
        bound[1].observe(seconds)


class HttpMetrics:
    """Pure ASGI middleware counting every HTTP answer by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Recorder, routes: Callable[[], list[BaseRoute]]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.metrics.record(scope["method"], self._template(scope), status, time.perf_counter() - started)

    def _template(self, scope: Scope) -> str:
        for route in self.routes():
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return str(getattr(route, "path", "other"))
        return "unmatched"
