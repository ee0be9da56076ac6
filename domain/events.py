"""The timeline is the outbox: events are written in the change's own transaction and announced by NOTIFY.

This module writes every live event (incident events with ``record``, bulletin events with
``record_bulletin``) and announces each on the events channel (``domain/channels.py`` holds the channels:
events, SLA, mail); access notices alone are sent by triggers (migration 0007). NOTIFY is transactional,
so listeners hear of an event only once the change that wrote it has committed, and the payload carries
only the event's address (tenant and id), never its content. The mails an event causes are queued here
too, in the same transaction (``domain/notices``): a mail exists exactly when its event does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.bulletins.models import BulletinEvent
from domain.channels import EVENTS_CHANNEL, SLA_CHANNEL, announce, announce_sla_due

__all__ = [
    "EVENTS_CHANNEL",
    "SLA_CHANNEL",
    "announce",
    "announce_sla_due",
    "lock_counters",
    "next_event_seq",
    "next_incident_number",
    "record",
    "record_bulletin",
]
from domain.columns import utcnow
from domain.incidents.enums import IncidentEventKind, Visibility
from domain.incidents.models import Incident, IncidentEvent
from domain.notices import producers as notices
from domain.trace_context import current_traceparent

_BUMP = {
    "incident": text(
        "INSERT INTO tenant_counters (tenant_id, last_incident_number, last_event_seq) VALUES (:t, 1, 0)"
        " ON CONFLICT (tenant_id) DO UPDATE"
        " SET last_incident_number = tenant_counters.last_incident_number + 1"
        " RETURNING last_incident_number"
    ),
    "event": text(
        "INSERT INTO tenant_counters (tenant_id, last_incident_number, last_event_seq) VALUES (:t, 0, 1)"
        " ON CONFLICT (tenant_id) DO UPDATE SET last_event_seq = tenant_counters.last_event_seq + 1"
        " RETURNING last_event_seq"
    ),
    "lock": text(
        "INSERT INTO tenant_counters (tenant_id, last_incident_number, last_event_seq) VALUES (:t, 0, 0)"
        " ON CONFLICT (tenant_id) DO UPDATE SET last_event_seq = tenant_counters.last_event_seq"
    ),
}


async def lock_counters(session: AsyncSession, tenant_ids: Iterable[uuid.UUID]) -> None:
    """Hold the tenants' counter rows until commit, in a fixed order.

    Every event bumps its tenant's counter, which stays locked until commit. A change that writes events
    in several tenants takes their counters here first, so that two such changes queue behind each other
    instead of meeting in opposite orders (a deadlock PostgreSQL resolves by aborting one of them)."""
    for tenant_id in sorted(set(tenant_ids)):
        await session.execute(_BUMP["lock"], {"t": tenant_id})


async def next_incident_number(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """The tenant's next incident number. The counter row stays locked until commit, so concurrent
    reports queue here and a rolled-back report gives its number back: no gaps, no duplicates."""
    return int((await session.execute(_BUMP["incident"], {"t": tenant_id})).scalar_one())


async def record(
    session: AsyncSession,
    incident: Incident,
    kind: IncidentEventKind,
    *,
    visibility: Visibility,
    actor: str | None,
    message: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> IncidentEvent:
    """Append one event to the incident's timeline and announce it after commit."""
    seq = await next_event_seq(session, incident.tenant_id)
    event = IncidentEvent(
        tenant_id=incident.tenant_id,
        id=uuid.uuid4(),
        incident_id=incident.id,
        seq=seq,
        kind=kind,
        visibility=visibility,
        actor=actor,
        message=message,
        data=data or {},
        at=at or utcnow(),
        # Its webhooks are sent in the trace of the request that wrote it (None when not traced).
        traceparent=current_traceparent(),
    )
    session.add(event)
    await announce(session, incident.tenant_id, event.id)
    await notices.for_incident_event(session, incident, event)
    return event


async def record_bulletin(session: AsyncSession, event: BulletinEvent) -> BulletinEvent:
    """Number a bulletin event from the tenant's live-event counter, add it, and announce it after commit."""
    event.seq = await next_event_seq(session, event.tenant_id)
    session.add(event)
    await announce(session, event.tenant_id, event.id)
    await notices.for_bulletin_event(session, event)
    return event


async def next_event_seq(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """The tenant's next live-event number, shared by incident and bulletin events; the counter row
    stays locked until commit, so the tenant's events are numbered in commit order."""
    return int((await session.execute(_BUMP["event"], {"t": tenant_id})).scalar_one())
