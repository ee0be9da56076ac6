"""The delivery worker: from the outbox to partners' endpoints, at least once, in order per incident.

Every replica runs one. A round has two steps, each its own short transaction (their statements are in
``domain/webhooks/deliveries.py``; this module runs the rounds and sends):

1. **Fan-out.** Each active endpoint keeps a cursor (``last_seq``) into its tenant's timeline. Events past
   it become one ``webhook_deliveries`` row per chosen kind (unique per endpoint and event, so a replay
   inserts nothing twice) and the cursor moves in the same transaction. Event ``seq`` follows commit
   order per tenant, so a cursor never skips an event that commits later. Endpoint rows are locked with
   SKIP LOCKED: two replicas never fan out the same endpoint at once.
2. **Delivery.** Due deliveries that head their line (no earlier pending delivery of the same incident
   to the same endpoint) are claimed under a lease (``next_attempt_at`` pushed past the timeout), then
   sent in the background (at most ``webhook_concurrency`` at once, so a slow endpoint holds one slot
   until its timeout and never the others), signed per Standard Webhooks, and the outcome recorded: the attempt in
   the log; DELIVERED on 2xx; otherwise the next attempt after an exponential backoff with jitter. An
   endpoint failing for ``webhook_disable_after_seconds`` (a day) is disabled; a delivery failing that
   long is given up (FAILED), which also unblocks the incident's later deliveries.

A crash between sending and recording leaves the claim to lapse, and the delivery is sent again: at
least once. Receivers deduplicate on ``webhook-id``, which is stable across retries.

When the process traces (``trace``), each send is a client span continuing the trace of the request
that wrote the event (the ``traceparent`` stored with it, ``domain/trace_context.py``), and the request
to the partner carries that span as its ``traceparent`` header: the partner's work joins the same trace.
A delivery retried an hour later is still a child of the original mutation, not of the worker's round.

The worker sleeps until its next due retry, ``webhook_poll_seconds`` at most, and is woken early by the
outbox's NOTIFY channel; the NOTIFY only says "look", so a missed one costs latency, never an event.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, StatusCode, Tracer

from domain.background import RoundWorker
from domain.columns import utcnow
from domain.db import Database
from domain.outbox import Hub, LiveEvent
from domain.settings import Settings
from domain.trace_context import DELIVERY_SPAN, remote_context
from domain.webhooks import deliveries
from domain.webhooks.deliveries import DELIVERY_BATCH, GlobalId, Job, Result, message_id
from domain.webhooks.models import DeliveryStatus
from domain.webhooks.signing import SecretBox, retry_delay, signed_headers
from domain.webhooks.targets import UnsafeTarget, checked_address, parse_target

log = logging.getLogger(__name__)

USER_AGENT = "incidentdesk-webhooks/1"

# What became of an attempt, by the delivery's status after it: the labels of the deliveries metric.
_OUTCOME = {
    DeliveryStatus.DELIVERED: "delivered",
    DeliveryStatus.PENDING: "retrying",  # refused or unreachable; tried again after a backoff
    DeliveryStatus.FAILED: "failed",  # given up after failing for webhook_disable_after_seconds
}
# Every outcome, "unrecorded" included (sent, but the outcome could not be written: it is sent again).
OUTCOMES = (*_OUTCOME.values(), "unrecorded")


class WebhookWorker(RoundWorker):
    name = "webhook-worker"

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        global_id: GlobalId,
        http: httpx.AsyncClient | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        super().__init__()
        self.db = db
        self.settings = settings
        self.global_id = global_id
        self.rand = rand
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.webhook_timeout_seconds),
            follow_redirects=False,
            trust_env=False,
        )
        self.lease = timedelta(seconds=settings.webhook_timeout_seconds + 30)
        self.disable_after = timedelta(seconds=settings.webhook_disable_after_seconds)
        # Set by ``trace`` when the process exports traces; None costs one check per send.
        self._tracer: Tracer | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        # Attempts made by this process, by outcome (``OUTCOMES``), read by the metrics.
        self.outcomes: Counter[str] = Counter()

    @functools.cached_property
    def box(self) -> SecretBox:
        # On first delivery, not at construction: building the app reads no key file.
        return SecretBox.for_settings(self.settings)

    # ------------------------------------------------------------------ running

    def watch(self, hub: Hub) -> None:
        """Wake on every event the process's outbox hub dispatches (its one LISTEN connection), from
        ``start`` to ``stop``; the periodic round still runs without it."""
        self.hear(hub.watchers, self._on_event)

    def trace(self, tracer: Tracer) -> None:
        """Send each delivery in a span of the trace that caused it, and pass that span on to the
        partner in a ``traceparent`` header."""
        self._tracer = tracer

    def _on_event(self, event: LiveEvent) -> None:
        self._wake.set()

    async def stop(self, grace_seconds: float = 5.0) -> None:
        await super().stop()
        # Sends in flight get a moment to finish and be recorded; any still running then is cancelled and
        # its claim lapses, so another process sends it again.
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight), timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._owns_http:
            await self.http.aclose()

    async def round(self) -> float | None:
        # Whatever was committed while no worker ran is found by the first round.
        worked, next_due = await self.run_once()
        if worked:
            return None
        return self.rest_until(next_due, self.settings.webhook_poll_seconds)

    async def run_once(self) -> tuple[bool, datetime | None]:
        """One round: fan out, deliver what is due. Whether anything happened, and the next due time."""
        tenants = await self.db.all_tenant_ids()
        if not tenants:
            return False, None
        created = await self.fan_out(tenants)
        sent = await self.deliver_due(tenants)
        return bool(created or sent), await self.next_due(tenants)

    # ------------------------------------------------------------------ fan-out

    async def fan_out(self, tenants: frozenset[uuid.UUID]) -> int:
        return await deliveries.fan_out(self.db, tenants, global_id=self.global_id)

    # ------------------------------------------------------------------ delivery

    async def deliver_due(self, tenants: frozenset[uuid.UUID]) -> int:
        """Claim what is due, up to the free sending slots, and send it in the background: a slow
        endpoint holds one slot until its timeout, never the rounds of everyone else."""
        free = self.settings.webhook_concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        jobs = await self._claim(tenants, free)
        for job in jobs:
            task = asyncio.create_task(self._deliver(job), name=f"webhook-delivery-{job.delivery_id}")
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
        return len(jobs)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()

    async def _deliver(self, job: Job) -> None:
        try:
            status = await self._record(job, await self.send(job))
        except asyncio.CancelledError:
            raise
        except Exception:
            # The claim's lease lapses and the delivery is tried again: at least once.
            self.outcomes["unrecorded"] += 1
            log.exception("recording webhook delivery %s failed", job.delivery_id)
            return
        if status is not None:
            self.outcomes[_OUTCOME[status]] += 1

    async def settle(self) -> None:
        """Wait for every send in flight to be recorded."""
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight), return_exceptions=True)

    async def _claim(self, tenants: frozenset[uuid.UUID], limit: int = DELIVERY_BATCH) -> list[Job]:
        return await deliveries.claim(
            self.db, tenants, limit=limit, lease=self.lease, open_secret=self.box.open
        )

    async def send(self, job: Job) -> Result:
        if self._tracer is None:
            return await self._send(job, {})
        # Attributes name the delivery, never its URL (a partner's URL may hold a token) or its body.
        with self._tracer.start_as_current_span(
            DELIVERY_SPAN,
            context=remote_context(job.traceparent),
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": "POST",
                "incidentdesk.webhook.delivery_id": str(job.delivery_id),
                "incidentdesk.webhook.endpoint_id": str(job.endpoint_id),
            },
        ) as span:
            trace_headers: dict[str, str] = {}
            propagate.inject(trace_headers)
            result = await self._send(job, trace_headers)
            if result.status is not None:
                span.set_attribute("http.response.status_code", result.status)
            if not result.ok:
                # The status, not the error's text: a connection error may quote the target.
                span.set_status(StatusCode.ERROR, f"HTTP {result.status}" if result.status else "not sent")
            return result

    async def _send(self, job: Job, trace_headers: dict[str, str]) -> Result:
        at = utcnow()
        started = time.monotonic()
        headers = {
            **signed_headers(job.secret, message_id(job.event_id), job.payload, at),
            **trace_headers,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        status: int | None = None
        error: str | None = None
        try:
            url, extensions = await self._pinned(job.url, headers)
            async with self.http.stream(
                "POST", url, content=job.payload.encode(), headers=headers, extensions=extensions
            ) as response:
                status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except UnsafeTarget as unsafe:
            error = f"target refused: {unsafe}"
        except httpx.TimeoutException:
            error = f"timed out after {self.settings.webhook_timeout_seconds:g}s"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
        return Result(at=at, status=status, error=error, duration_ms=int((time.monotonic() - started) * 1000))

    async def _pinned(self, url: str, headers: dict[str, str]) -> tuple[httpx.URL | str, dict[str, Any]]:
        """The URL to connect to: the address that passed the SSRF check, with the original host in the
        Host header and TLS server name, so a second DNS answer cannot send the request elsewhere."""
        if self.settings.webhook_allow_private_targets:
            return url, {}
        target = parse_target(url)
        address = await checked_address(target, allow_private=False)
        original = httpx.URL(url)
        headers["host"] = original.netloc.decode("ascii")
        extensions: dict[str, Any] = {"sni_hostname": target.host} if target.scheme == "https" else {}
        return original.copy_with(host=str(address)), extensions

    async def _record(self, job: Job, result: Result) -> DeliveryStatus | None:
        return await deliveries.record(
            self.db, job, result, disable_after=self.disable_after, retry_after=self._retry_after
        )

    def _retry_after(self, attempts: int) -> float:
        base, most = self.settings.webhook_retry_base_seconds, self.settings.webhook_retry_max_seconds
        return retry_delay(attempts, base, most, self.rand)

    async def backlog(self) -> int:
        """Deliveries still to be made, in every tenant (the metrics' webhook backlog)."""
        return await deliveries.pending_count(self.db, await self.db.all_tenant_ids())

    async def next_due(self, tenants: frozenset[uuid.UUID]) -> datetime | None:
        return await deliveries.next_due(self.db, tenants)
