"""Prometheus metrics at ``GET /metrics``: HTTP traffic by route, GraphQL operations by name and outcome,
live events (subscribers, commit-to-delivery lag, the outbox backlog), webhook deliveries, the SLA
scanner, the principal cache and the database pool.

Every app has a registry of its own (several apps in one process, as in tests, never collide), and labels
name route templates, operation names from a bounded set and outcomes, never paths, tenants or variables,
so no customer data reaches a scrape.

- ``http.py``: the middleware counting HTTP answers.
- ``operations.py``: GraphQL operations (the endpoint reports each one).
- ``runtime.py``: what the hub, the pool, the caches, the webhook worker and the scanner count, read at
  scrape time.
- ``pauses.py``: how long Python's cycle collector stopped the process.
- ``scrape.py``: the ``/metrics`` route (bearer token) and the server on a port of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from starlette.routing import Route

from api.metrics.http import HttpMetrics, HttpRequests
from api.metrics.operations import GraphQLOperations
from api.metrics.pauses import PauseCollector, pauses
from api.metrics.runtime import RuntimeCollector, Watched
from api.metrics.scrape import MetricsServer, metrics_route
from auth import Authority
from domain.access import AccessNotices
from domain.db import Database
from domain.outbox import Hub, LiveEvent
from domain.settings import Settings
from domain.sla.scanner import ScanResult, SlaScanner
from domain.webhooks.worker import WebhookWorker

__all__ = ["HttpMetrics", "Metrics", "MetricsServer"]

log = logging.getLogger(__name__)

# A scrape waits this long for the backlogs' reads; past it the families are left out of that scrape.
BACKLOG_READ_SECONDS = 2.0


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http = HttpRequests(self.registry)
        self.operations = GraphQLOperations(self.registry)
        self.delivery_lag = Histogram(
            "incidentdesk_live_event_delivery_lag_seconds",
            "From an event's commit to a subscriber (or a live group of them) taking it from its feed"
            " (SLA alerts count from the instant their clock crossed, so a late scanner shows here too)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=self.registry,
        )
        self.sla_lag = Histogram(
            "incidentdesk_sla_scanner_lag_seconds",
            "For each pass of the SLA scanner that handled incidents, how long past its due time the most"
            " overdue of them was (a sleep overslept, a leader taking over late, an outage)",
            buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
            registry=self.registry,
        )
        self.registry.register(PauseCollector(pauses()))
        self._watched: Watched | None = None

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP answer (the middleware's and the door's)."""
        self.http.record(method, route, status, seconds)

    def watch(
        self,
        hub: Hub,
        database: Database,
        authority: Authority,
        access: AccessNotices,
        *,
        webhooks: WebhookWorker | None = None,
        scanner: SlaScanner | None = None,
    ) -> None:
        self._watched = Watched(hub, database, authority, access, webhooks=webhooks, scanner=scanner)
        self.registry.register(RuntimeCollector(self._watched))
        hub.delivery_watchers.append(self.delivered)
        if scanner is not None:
            scanner.pass_watchers.append(self.scanned)

    def delivered(self, event: LiveEvent) -> None:
        row = event.incident or event.bulletin
        if row is not None:
            self.delivery_lag.observe(max(0.0, time.time() - row.at.timestamp()))

    def scanned(self, result: ScanResult) -> None:
        if result.refreshed:
            self.sla_lag.observe(result.lag_seconds)

    async def refresh(self) -> None:
        """Read the backlogs (each a statement of the domain) for the scrape about to be rendered."""
        watched = self._watched
        if watched is None:
            return
        backlogs = watched.backlogs
        try:
            async with asyncio.timeout(BACKLOG_READ_SECONDS):
                backlogs.outbox_events = await watched.hub.backlog()
                if watched.webhooks is not None:
                    backlogs.webhook_deliveries = await watched.webhooks.backlog()
        except Exception:
            # The database is away or slow: the scrape still answers, without the backlogs.
            log.warning("reading the backlogs for /metrics failed", exc_info=True)
            backlogs.outbox_events = backlogs.webhook_deliveries = None

    async def scrape(self) -> tuple[bytes, str]:
        await self.refresh()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def route(self, settings: Settings) -> Route:
        return metrics_route(self.scrape, settings.metrics_token)

    def routes(self, settings: Settings) -> list[Route]:
        """The app's own ``/metrics``: none when metrics are off or served on a port of their own."""
        if not settings.metrics_enabled or settings.metrics_port is not None:
            return []
        return [self.route(settings)]

    def server(self, settings: Settings) -> MetricsServer | None:
        """The server of ``/metrics`` on ``INCIDENTDESK_METRICS_PORT``, when set (a worker of the app)."""
        if not settings.metrics_enabled or settings.metrics_port is None:
            return None
        return MetricsServer(self.route(settings), host=settings.host, port=settings.metrics_port)
