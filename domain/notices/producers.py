"""Who hears of an event by mail, decided as the event is recorded (``domain/events.py`` calls these)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from domain.bulletins.models import BulletinEvent
from domain.incidents.models import Incident, IncidentEvent
from domain.notices import incident_mail
from domain.status_subscribers import notices as status_subscribers


async def for_incident_event(session: AsyncSession, incident: Incident, event: IncidentEvent) -> None:
    """Queue the mails an incident event causes."""
    await incident_mail.for_incident_event(session, incident, event)


async def for_bulletin_event(session: AsyncSession, event: BulletinEvent) -> None:
    """Queue the mails a bulletin event causes."""
    await status_subscribers.for_bulletin_event(session, event)
