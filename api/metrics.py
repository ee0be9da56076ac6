"""Prometheus metrics at ``GET /metrics``: HTTP traffic by route, live subscribers, the database pool.

Every app has a registry of its own (several apps in one process, as in tests, never collide), and labels
name route templates, never paths or tenants, so no customer data reaches a scrape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth import Authority
from domain.access import AccessNotices
from domain.db import Database
from domain.outbox import Hub


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "incidentdesk_http_requests_total",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "incidentdesk_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["method", "route"],
            registry=self.registry,
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

    def watch(self, hub: Hub, database: Database, authority: Authority, access: AccessNotices) -> None:
        self.registry.register(_RuntimeCollector(hub, database, authority, access))

    def route(self) -> Route:
        async def metrics(request: Request) -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return Route("/metrics", metrics, methods=["GET"])


class _RuntimeCollector(Collector):
    """Values read at scrape time from the objects that own them."""

    def __init__(self, hub: Hub, database: Database, authority: Authority, access: AccessNotices) -> None:
        self.hub = hub
        self.database = database
        self.authority = authority
        self.access = access

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "incidentdesk_live_subscribers",
            "Open subscriptions on this process",
            value=self.hub.subscriber_count(),
        )
        yield GaugeMetricFamily(
            "incidentdesk_live_events_dispatched",
            "Events this process has fanned out",
            value=self.hub.dispatched,
        )
        hits, misses = self.authority.cache_hits
        known = CounterMetricFamily(
            "incidentdesk_principal_cache_lookups", "Bearer tokens looked up in the cache", labels=["outcome"]
        )
        known.add_metric(["hit"], hits)
        known.add_metric(["miss"], misses)
        yield known
        yield GaugeMetricFamily(
            "incidentdesk_access_notices_listening",
            "1 while this process hears access notices (caches of principals are trusted only then)",
            value=1 if self.access.listening else 0,
        )
        yield CounterMetricFamily(
            "incidentdesk_access_notices",
            "Access notices heard (each empties the caches)",
            value=self.access.generation,
        )
        pool = self.database.engine.pool
        checked_out: Callable[[], int] | None = getattr(pool, "checkedout", None)
        if checked_out is not None:
            yield GaugeMetricFamily(
                "incidentdesk_db_connections_in_use", "Pooled connections checked out", value=checked_out()
            )


class HttpMetrics:
    """Pure ASGI middleware counting every HTTP answer by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Callable[[], list[BaseRoute]]) -> None:
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
