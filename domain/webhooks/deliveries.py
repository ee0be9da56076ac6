"""The delivery log's statements: fan-out from the timeline, claims of due deliveries, their outcomes.

The worker (``domain/webhooks/worker.py``) runs the rounds and sends; everything it reads and writes in
the database is here, each step its own short transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVarTuple

from sqlalchemy import Select, and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import aliased, undefer

from domain.columns import utcnow
from domain.db import Database, Scope
from domain.incidents.models import Incident, IncidentEvent
from domain.tenancy.models import TenantCounter
from domain.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from domain.webhooks.signing import message_body

log = logging.getLogger(__name__)

FAN_OUT_BATCH = 500
DELIVERY_BATCH = 50

GlobalId = Callable[[str, uuid.UUID], str]
Columns = TypeVarTuple("Columns")


@dataclass(frozen=True)
class Job:
    tenant_id: uuid.UUID
    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    url: str
    secret: str
    payload: str
    # The W3C traceparent of the request that wrote the event: the send continues its trace.
    traceparent: str | None = None


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


async def fan_out(db: Database, tenants: frozenset[uuid.UUID], *, global_id: GlobalId) -> int:
    """Each active endpoint's new events become deliveries of the kinds it chose, and its cursor moves;
    in one transaction, so a replay inserts nothing twice. How many deliveries (and 1 more when a full
    batch means more may follow)."""
    created = 0
    async with db.transaction(Scope.of(tenants)) as session:
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
                    .options(undefer(IncidentEvent.traceparent))
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
                        event_data(event, incident, global_id),
                    ),
                    "traceparent": event.traceparent,
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


async def claim(
    db: Database,
    tenants: frozenset[uuid.UUID],
    *,
    limit: int,
    lease: timedelta,
    open_secret: Callable[[str], str],
) -> list[Job]:
    """Due deliveries that head their line, claimed for ``lease`` (past it, another round sends them
    again: at least once)."""
    now = utcnow()
    async with db.transaction(Scope.of(tenants)) as session:
        rows = (
            await session.execute(
                _sendable(select(WebhookDelivery, WebhookEndpoint.url, WebhookEndpoint.secret))
                .where(WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
                .with_for_update(of=WebhookDelivery, skip_locked=True)
            )
        ).all()
        jobs = []
        for delivery, url, secret in rows:
            delivery.next_attempt_at = now + lease
            jobs.append(
                Job(
                    tenant_id=delivery.tenant_id,
                    delivery_id=delivery.id,
                    endpoint_id=delivery.endpoint_id,
                    event_id=delivery.event_id,
                    url=url,
                    secret=open_secret(secret),
                    payload=delivery.payload,
                    traceparent=delivery.traceparent,
                )
            )
    return jobs


async def record(
    db: Database,
    job: Job,
    result: Result,
    *,
    disable_after: timedelta,
    retry_after: Callable[[int], float],
) -> DeliveryStatus | None:
    """The attempt in the log; DELIVERED on 2xx, else the next attempt after ``retry_after(attempts)``
    seconds, or FAILED (and the endpoint disabled) past ``disable_after`` of failures. Returns the
    delivery's status after this attempt (PENDING: it will be tried again), None when it is gone."""
    async with db.transaction(Scope.of([job.tenant_id])) as session:
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
            return None
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
            return delivery.status
        endpoint.failing_since = endpoint.failing_since or result.at
        if result.at - delivery.created_at >= disable_after:
            delivery.status = DeliveryStatus.FAILED
        else:
            delay = retry_after(delivery.attempts)
            delivery.next_attempt_at = result.at + timedelta(seconds=delay)
        if endpoint.active and result.at - endpoint.failing_since >= disable_after:
            endpoint.active = False
            endpoint.disabled_at = result.at
            endpoint.disabled_reason = (
                f"every delivery failed since {endpoint.failing_since.isoformat()}; last: {result.error}"
            )
            log.warning("webhook endpoint %s disabled after a day of failures", endpoint.id)
        return delivery.status


async def next_due(db: Database, tenants: frozenset[uuid.UUID]) -> datetime | None:
    """When the next pending delivery that heads its line is due."""
    async with db.transaction(Scope.of(tenants)) as session:
        due: datetime | None = await session.scalar(
            _sendable(select(func.min(WebhookDelivery.next_attempt_at)))
        )
    return due


async def pending_count(db: Database, tenants: frozenset[uuid.UUID]) -> int:
    """Deliveries still to be made (due or waiting for a retry), to active endpoints: the webhook backlog."""
    if not tenants:
        return 0
    async with db.transaction(Scope.of(tenants)) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .join(
                WebhookEndpoint,
                and_(
                    WebhookEndpoint.tenant_id == WebhookDelivery.tenant_id,
                    WebhookEndpoint.id == WebhookDelivery.endpoint_id,
                ),
            )
            .where(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookEndpoint.active.is_(True))
        )
    return int(count or 0)


def _sendable(statement: Select[*Columns]) -> Select[*Columns]:
    """``statement`` over the deliveries that may be sent once due: pending, to an active endpoint, and
    heading their line."""
    return statement.join(
        WebhookEndpoint,
        and_(
            WebhookEndpoint.tenant_id == WebhookDelivery.tenant_id,
            WebhookEndpoint.id == WebhookDelivery.endpoint_id,
        ),
    ).where(
        WebhookDelivery.status == DeliveryStatus.PENDING,
        WebhookEndpoint.active.is_(True),
        _heads_its_line(),
    )


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
