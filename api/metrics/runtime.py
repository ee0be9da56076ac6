"""Values read at scrape time from the objects that own them: the hub, the pool, the caches, the webhook
worker and the SLA scanner keep plain counters, and this collector turns them into metric families."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from auth import Authority
from domain.access import AccessNotices
from domain.db import Database
from domain.outbox import Hub
from domain.sla.scanner import SlaScanner
from domain.webhooks.worker import OUTCOMES, WebhookWorker


@dataclass
class Backlogs:
    """What is waiting, read from the database before each scrape (``Metrics.refresh``): None when it
    could not be read, and the family is then left out of that scrape rather than shown stale."""

    outbox_events: int | None = None
    webhook_deliveries: int | None = None


@dataclass
class Watched:
    """The objects of one app whose state the scrape reports."""

    hub: Hub
    database: Database
    authority: Authority
    access: AccessNotices
    webhooks: WebhookWorker | None = None
    scanner: SlaScanner | None = None
    backlogs: Backlogs = field(default_factory=Backlogs)


class RuntimeCollector(Collector):
    def __init__(self, watched: Watched) -> None:
        self.watched = watched

    def collect(self) -> Iterable[Metric]:
        watched = self.watched
        yield GaugeMetricFamily(
            "incidentdesk_live_subscribers",
            "Open subscriptions on this process",
            value=watched.hub.subscriber_count(),
        )
        yield GaugeMetricFamily(
            "incidentdesk_live_events_dispatched",
            "Events this process has fanned out",
            value=watched.hub.dispatched,
        )
        hits, misses = watched.authority.cache_hits
        known = CounterMetricFamily(
            "incidentdesk_principal_cache_lookups",
            "Bearer tokens looked up in the cache (hit rate: hit / (hit + miss))",
            labels=["outcome"],
        )
        known.add_metric(["hit"], hits)
        known.add_metric(["miss"], misses)
        yield known
        yield GaugeMetricFamily(
            "incidentdesk_access_notices_listening",
            "1 while this process hears access notices (caches of principals are trusted only then)",
            value=1 if watched.access.listening else 0,
        )
        yield CounterMetricFamily(
            "incidentdesk_access_notices",
            "Access notices heard (each empties the caches)",
            value=watched.access.generation,
        )
        pool = watched.database.engine.pool
        checked_out: Callable[[], int] | None = getattr(pool, "checkedout", None)
        if checked_out is not None:
            yield GaugeMetricFamily(
                "incidentdesk_db_connections_in_use", "Pooled connections checked out", value=checked_out()
            )
        yield from _backlogs(watched.backlogs)
        if watched.webhooks is not None:
            yield _webhook_deliveries(watched.webhooks)
        if watched.scanner is not None:
            yield from _sla_scanner(watched.scanner)


def _backlogs(backlogs: Backlogs) -> Iterable[Metric]:
    if backlogs.outbox_events is not None:
        yield GaugeMetricFamily(
            "incidentdesk_outbox_backlog_events",
            "Live events committed that this process has not dispatched to its subscribers and workers yet",
            value=backlogs.outbox_events,
        )
    if backlogs.webhook_deliveries is not None:
        yield GaugeMetricFamily(
            "incidentdesk_webhook_deliveries_pending",
            "Webhook deliveries to active endpoints still to be made (due now or waiting for a retry)",
            value=backlogs.webhook_deliveries,
        )


def _webhook_deliveries(worker: WebhookWorker) -> Metric:
    attempts = CounterMetricFamily(
        "incidentdesk_webhook_deliveries",
        "Webhook delivery attempts made by this process, by outcome (delivered, retrying: refused or"
        " unreachable and tried again later, failed: given up, unrecorded: sent but not recorded)",
        labels=["outcome"],
    )
    for outcome in OUTCOMES:
        attempts.add_metric([outcome], worker.outcomes[outcome])
    return attempts


def _sla_scanner(scanner: SlaScanner) -> Iterable[Metric]:
    yield CounterMetricFamily(
        "incidentdesk_sla_scanner_runs", "Passes of the SLA scanner on this process", value=scanner.passes
    )
    yield CounterMetricFamily(
        "incidentdesk_sla_scanner_alerts",
        "SLA_AT_RISK and SLA_BREACHED events the scanner recorded on this process",
        value=scanner.alerts_recorded,
    )
    yield GaugeMetricFamily(
        "incidentdesk_sla_scanner_leading",
        "1 while this process holds the scanner's leader lock (one replica at a time scans)",
        value=1 if scanner.leading else 0,
    )
