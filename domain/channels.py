"""The NOTIFY channels of the application, and the one way to send on each.

A notice is transactional: it reaches listeners only once the transaction that sent it commits, and
duplicates within one transaction are delivered once. It only says where to look, never what changed.
The process's one LISTEN connection (``domain/outbox/listener.py``) relays each channel to its watchers.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

EVENTS_CHANNEL = "incidentdesk_events"  # payload "<tenant_id>:<event_id>"
SLA_CHANNEL = "incidentdesk_sla"  # wakes the SLA scanner early; the payload is empty
MAIL_CHANNEL = "incidentdesk_mail"  # wakes the mail workers: a mail was queued; the payload is empty


async def announce(session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID) -> None:
    """Tell listeners, once the transaction commits, where the new event is (never what it says)."""
    await session.execute(select(func.pg_notify(EVENTS_CHANNEL, f"{tenant_id}:{event_id}")))


async def announce_sla_due(session: AsyncSession) -> None:
    """Wake the SLA scanner, once the transaction commits: it wrote incidents due for the scanner now,
    sooner than the scanner's own next look."""
    await session.execute(select(func.pg_notify(SLA_CHANNEL, "")))


async def announce_mail(session: AsyncSession) -> None:
    """Wake the mail workers, once the transaction commits: it queued mail."""
    await session.execute(select(func.pg_notify(MAIL_CHANNEL, "")))
