"""The delivery worker: from the outbox to partners' endpoints, at least once, in order per incident.

Every replica runs one. A round has two steps, each its own short transaction:

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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import aliased

from domain.background import Worker, wait_for_signal
from domain.columns import utcnow
from domain.db import Database, Scope
from domain.incidents.models import Incident, IncidentEvent
from domain.outbox import Hub, LiveEvent
from domain.settings import Settings
from domain.tenancy.models import TenantCounter
from domain.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from domain.webhooks.signing import SecretBox, message_body, retry_delay, signed_headers
from domain.webhooks.targets import UnsafeTarget, checked_address, parse_target

log = logging.getLogger(__name__)

FAN_OUT_BATCH = 500
DELIVERY_BATCH = 50
USER_AGENT = "incidentdesk-webhooks/1"

GlobalId = Callable[[str, uuid.UUID], str]


@dataclass(frozen=True)
class Job:
    tenant_id: uuid.UUID
    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    url: str
    secret: str
    payload: str


@dataclass(frozen=True)
class Result:
    at: datetime
    status: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def message_id(event_id: uuid.UUID) -> str:
    """``webhook-id``: one per event, the same for every retry (and every endpoint) of it."""
    return f"msg_{event_id.hex}"


def event_data(event: IncidentEvent, incident: Incident, global_id: GlobalId) -> dict[str, Any]:
    return {
        "tenant": {"id": global_id("Tenant", incident.tenant_id)},
        "incident": {
            "id": global_id("Incident", incident.id),
            "number": incident.display_number,
            "title": incident.title,
            "status": incident.status.value,
            "source": incident.source.value,
            "impact": incident.impact.value,
            "urgency": incident.urgency.value,
            "priority": incident.priority.value,
            "major": incident.major,
            "version": incident.version,
            "updatedAt": incident.updated_at.isoformat(),
        },
        "event": {
            "id": global_id("IncidentEvent", event.id),
            "seq": event.seq,
            "kind": event.kind.value,
            "visibility": event.visibility.value,
            "actor": event.actor,
            "message": event.message,
            "data": event.data,
            "at": event.at.isoformat(),
        },
    }


class WebhookWorker(Worker):
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
        self._wake = asyncio.Event()
        self._hub: Hub | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    @functools.cached_property
    def box(self) -> SecretBox:
        # On first delivery, not at construction: building the app reads no key file.
        return SecretBox.for_settings(self.settings)

    # ------------------------------------------------------------------ running

    def watch(self, hub: Hub) -> None:
        """Wake on every event the process's outbox hub dispatches (its one LISTEN connection); the
        periodic round still runs without it."""
        hub.watchers.append(self._on_event)
        self._hub = hub

    def _on_event(self, event: LiveEvent) -> None:
        self._wake.set()

    def on_stop(self) -> None:
        if self._hub is not None and self._on_event in self._hub.watchers:
            self._hub.watchers.remove(self._on_event)

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

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        # Whatever was committed while no worker ran is found by the first round.
        failures = 0
        while True:
            self._wake.clear()
            try:
                worked, next_due = await self.run_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("webhook round failed")
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))
                continue
            if worked:
                await asyncio.sleep(0)
                continue
            timeout = self.settings.webhook_poll_seconds
            if next_due is not None:
                # Never below a floor: a due delivery another replica holds must not make this one spin.
                timeout = max(0.05, min(timeout, (next_due - utcnow()).total_seconds()))
            await wait_for_signal(self._wake, timeout)

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
        created = 0
        async with self.db.transaction(Scope.of(tenants)) as session:
            # Only endpoints whose tenant has news: the tenant's counter is past their cursor. A counter
            # value once visible means every seq up to it has committed (allocation holds the counter's
            # row lock until commit), so the cursor may move up to it.
            endpoints = (
                await session.execute(
                    select(WebhookEndpoint, TenantCounter.last_event_seq)
                    .join(TenantCounter, TenantCounter.tenant_id == WebhookEndpoint.tenant_id)
                    .where(
                        WebhookEndpoint.active.is_(True),
                        WebhookEndpoint.last_seq < TenantCounter.last_event_seq,
                    )
                    .order_by(WebhookEndpoint.tenant_id, WebhookEndpoint.id)
                    .with_for_update(of=WebhookEndpoint, skip_locked=True)
                )
            ).all()
            for endpoint, high_water in endpoints:
                rows = (
                    await session.execute(
                        select(IncidentEvent, Incident)
                        .join(
                            Incident,
                            and_(
                                Incident.tenant_id == IncidentEvent.tenant_id,
                                Incident.id == IncidentEvent.incident_id,
                            ),
                        )
                        .where(
                            IncidentEvent.tenant_id == endpoint.tenant_id,
                            IncidentEvent.seq > endpoint.last_seq,
                            IncidentEvent.seq <= high_water,
                        )
                        .order_by(IncidentEvent.seq)
                        .limit(FAN_OUT_BATCH)
                    )
                ).all()
                full = len(rows) == FAN_OUT_BATCH
                # Seqs in range that are no incident event (bulletin changes share the counter) are passed.
                endpoint.last_seq = rows[-1][0].seq if full else int(high_water)
                if not rows:
                    continue
                kinds = set(endpoint.event_kinds)
                values = [
                    {
                        "tenant_id": endpoint.tenant_id,
                        "id": uuid.uuid4(),
                        "endpoint_id": endpoint.id,
                        "event_id": event.id,
                        "incident_id": event.incident_id,
                        "event_seq": event.seq,
                        "event_kind": event.kind.value,
                        "payload": message_body(
                            f"incident.{event.kind.value.lower()}",
                            event.at,
                            event_data(event, incident, self.global_id),
                        ),
                        "status": DeliveryStatus.PENDING,
                        "attempts": 0,
                        "next_attempt_at": utcnow(),
                        "created_at": utcnow(),
                    }
                    for event, incident in rows
                    if event.kind.value in kinds
                ]
                if values:
                    result = await session.execute(
                        insert(WebhookDelivery)
                        .values(values)
                        .on_conflict_do_nothing(index_elements=["tenant_id", "endpoint_id", "event_id"])
                    )
                    created += int(getattr(result, "rowcount", 0) or 0)
                # A full batch means more may follow: report work so the next round comes at once.
                created += 1 if full else 0
        return created

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
            await self._record(job, await self.send(job))
        except asyncio.CancelledError:
            raise
        except Exception:
            # The claim's lease lapses and the delivery is tried again: at least once.
            log.exception("recording webhook delivery %s failed", job.delivery_id)

    async def settle(self) -> None:
        """Wait for every send in flight to be recorded."""
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight), return_exceptions=True)

    async def _claim(self, tenants: frozenset[uuid.UUID], limit: int = DELIVERY_BATCH) -> list[Job]:
        now = utcnow()
        async with self.db.transaction(Scope.of(tenants)) as session:
            rows = (
                await session.execute(
                    select(WebhookDelivery, WebhookEndpoint.url, WebhookEndpoint.secret)
                    .join(
                        WebhookEndpoint,
                        and_(
                            WebhookEndpoint.tenant_id == WebhookDelivery.tenant_id,
                            WebhookEndpoint.id == WebhookDelivery.endpoint_id,
                        ),
                    )
                    .where(
                        WebhookDelivery.status == DeliveryStatus.PENDING,
                        WebhookDelivery.next_attempt_at <= now,
                        WebhookEndpoint.active.is_(True),
                        _heads_its_line(),
                    )
                    .order_by(WebhookDelivery.next_attempt_at)
                    .limit(limit)
                    .with_for_update(of=WebhookDelivery, skip_locked=True)
                )
            ).all()
            jobs = []
            for delivery, url, secret in rows:
                delivery.next_attempt_at = now + self.lease
                jobs.append(
                    Job(
                        tenant_id=delivery.tenant_id,
                        delivery_id=delivery.id,
                        endpoint_id=delivery.endpoint_id,
                        event_id=delivery.event_id,
                        url=url,
                        secret=self.box.open(secret),
                        payload=delivery.payload,
                    )
                )
        return jobs

    async def send(self, job: Job) -> Result:
        at = utcnow()
        started = time.monotonic()
        headers = {
            **signed_headers(job.secret, message_id(job.event_id), job.payload, at),
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

    async def _record(self, job: Job, result: Result) -> None:
        async with self.db.transaction(Scope.of([job.tenant_id])) as session:
            delivery = await session.scalar(
                select(WebhookDelivery)
                .where(WebhookDelivery.tenant_id == job.tenant_id, WebhookDelivery.id == job.delivery_id)
                .with_for_update()
            )
            endpoint = await session.scalar(
                select(WebhookEndpoint)
                .where(WebhookEndpoint.tenant_id == job.tenant_id, WebhookEndpoint.id == job.endpoint_id)
                .with_for_update()
            )
            if delivery is None or endpoint is None:  # pragma: no cover - deleted while in flight
                return
            delivery.attempts += 1
            delivery.last_attempt_at = result.at
            delivery.response_status = result.status
            session.add(
                WebhookAttempt(
                    tenant_id=job.tenant_id,
                    id=uuid.uuid4(),
                    delivery_id=delivery.id,
                    number=delivery.attempts,
                    at=result.at,
                    response_status=result.status,
                    error=result.error,
                    duration_ms=result.duration_ms,
                )
            )
            if result.ok:
                delivery.status = DeliveryStatus.DELIVERED
                delivery.delivered_at = result.at
                delivery.next_attempt_at = result.at
                endpoint.failing_since = None
                return
            endpoint.failing_since = endpoint.failing_since or result.at
            if result.at - delivery.created_at >= self.disable_after:
                delivery.status = DeliveryStatus.FAILED
            else:
                delay = retry_delay(
                    delivery.attempts,
                    self.settings.webhook_retry_base_seconds,
                    self.settings.webhook_retry_max_seconds,
                    self.rand,
                )
                delivery.next_attempt_at = result.at + timedelta(seconds=delay)
            if endpoint.active and result.at - endpoint.failing_since >= self.disable_after:
                endpoint.active = False
                endpoint.disabled_at = result.at
                endpoint.disabled_reason = (
                    f"every delivery failed since {endpoint.failing_since.isoformat()}; last: {result.error}"
                )
                log.warning("webhook endpoint %s disabled after a day of failures", endpoint.id)

    async def next_due(self, tenants: frozenset[uuid.UUID]) -> datetime | None:
        async with self.db.transaction(Scope.of(tenants)) as session:
            due: datetime | None = await session.scalar(
                select(func.min(WebhookDelivery.next_attempt_at))
                .join(
                    WebhookEndpoint,
                    and_(
                        WebhookEndpoint.tenant_id == WebhookDelivery.tenant_id,
                        WebhookEndpoint.id == WebhookDelivery.endpoint_id,
                    ),
                )
                .where(
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookEndpoint.active.is_(True),
                    _heads_its_line(),
                )
            )
        return due


def _heads_its_line() -> Any:
    """No earlier delivery of the same incident to the same endpoint is still pending."""
    earlier = aliased(WebhookDelivery)
    return ~(
        select(earlier.id)
        .where(
            earlier.tenant_id == WebhookDelivery.tenant_id,
            earlier.endpoint_id == WebhookDelivery.endpoint_id,
            earlier.incident_id == WebhookDelivery.incident_id,
            earlier.status == DeliveryStatus.PENDING,
            earlier.event_seq < WebhookDelivery.event_seq,
        )
        .exists()
    )
