"""Mails to a status page's subscribers about its bulletins, queued as each bulletin event is recorded.

A bulletin is told of when the public page shows it: when it is published (created published, or a
draft published), and at each update while published; a draft, and anything of the incident behind a
bulletin, never is. A mail goes to every confirmed subscriber who follows all of the page's services or
one the bulletin names, and to every subscriber when the bulletin names no service (a notice for the
whole page: every embed of the page shows it too, ``domain.bulletins.public.concerns``). Maintenance
windows have a mail of their own, which their automatic start and end send as well. The page must still
be public: its links lead there.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.bulletins.labels import PHASE_LABELS, STATUS_LABELS
from domain.bulletins.models import (
    Bulletin,
    BulletinEvent,
    BulletinEventKind,
    BulletinService,
    BulletinUpdate,
)
from domain.bulletins.phases import BulletinKind
from domain.catalog.models import Service
from domain.mail.outbox import queue_notices
from domain.status_subscribers.models import StatusSubscriber, StatusSubscriberService
from domain.status_subscribers.service import unsubscribe_link
from domain.tenancy.models import Tenant

# The bulletin changes a subscriber hears of (``data["change"]`` of a BULLETIN_CHANGED event).
PUBLISHING = frozenset({"created", "published"})
UPDATING = frozenset({"updated"})


def _at(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def recipients(tenant_id: uuid.UUID, services: list[uuid.UUID]) -> Select[uuid.UUID, str]:
    """The following subscribers a bulletin naming ``services`` concerns: (id, address)."""
    statement = select(StatusSubscriber.id, StatusSubscriber.email).where(
        StatusSubscriber.tenant_id == tenant_id,
        StatusSubscriber.confirmed_at.is_not(None),
        StatusSubscriber.unsubscribed_at.is_(None),
    )
    if services:
        statement = statement.where(
            or_(
                StatusSubscriber.all_services.is_(True),
                exists().where(
                    StatusSubscriberService.tenant_id == tenant_id,
                    StatusSubscriberService.subscriber_id == StatusSubscriber.id,
                    StatusSubscriberService.service_id.in_(services),
                ),
            )
        )
    return statement.order_by(StatusSubscriber.id)


def _template(bulletin: Bulletin, change: str) -> tuple[str, str]:
    """The mail's template and reason."""
    if bulletin.kind is BulletinKind.MAINTENANCE:
        return "status_maintenance", "status.maintenance"
    if change in PUBLISHING:
        return "status_bulletin_published", "status.bulletin_published"
    return "status_bulletin_updated", "status.bulletin_updated"


async def _facts(session: AsyncSession, tenant: Tenant, bulletin: Bulletin) -> dict[str, Any]:
    """What the mail tells: the page, the bulletin and its newest update (every update of a published
    bulletin is public), the services it affects with their declared status."""
    update = await session.scalar(
        select(BulletinUpdate)
        .where(BulletinUpdate.tenant_id == bulletin.tenant_id, BulletinUpdate.bulletin_id == bulletin.id)
        .order_by(BulletinUpdate.at.desc(), BulletinUpdate.id.desc())
        .limit(1)
    )
    affected = await session.execute(
        select(Service.name, BulletinService.status)
        .join(
            BulletinService,
            (BulletinService.tenant_id == Service.tenant_id) & (BulletinService.service_id == Service.id),
        )
        .where(BulletinService.tenant_id == bulletin.tenant_id, BulletinService.bulletin_id == bulletin.id)
        .order_by(Service.name)
    )
    return {
        "page_name": tenant.name,
        "page_path": f"/status/{tenant.slug}",
        "title": bulletin.title,
        "phase": PHASE_LABELS[bulletin.phase],
        "body": update.body if update is not None else "",
        "at": _at(update.at if update is not None else bulletin.updated_at),
        "services": [{"name": name, "status": STATUS_LABELS[status]} for name, status in affected],
        "scheduled_start": _at(bulletin.scheduled_start),
        "scheduled_end": _at(bulletin.scheduled_end),
    }


async def for_bulletin_event(session: AsyncSession, event: BulletinEvent) -> None:
    """Queue the subscribers' mails a bulletin event causes, in the event's transaction."""
    if (
        event.kind is not BulletinEventKind.BULLETIN_CHANGED
        or not event.published
        or event.bulletin_id is None
    ):
        return
    change = event.data.get("change")
    if change not in PUBLISHING | UPDATING:
        return
    tenant = await session.get(Tenant, event.tenant_id)
    if tenant is None or not tenant.public_status_page:
        return
    named = event.data.get("services")
    services = [uuid.UUID(value) for value in named] if isinstance(named, list) else []
    found = (await session.execute(recipients(tenant.id, services))).all()
    if not found:
        return
    bulletin = await session.get(Bulletin, (event.tenant_id, event.bulletin_id))
    if bulletin is None:
        return
    template, reason = _template(bulletin, str(change))
    await queue_notices(
        session,
        tenant_id=tenant.id,
        template=template,
        context=await _facts(session, tenant, bulletin),
        reason=reason,
        recipients=(
            (email, {"unsubscribe": unsubscribe_link(tenant, subscriber_id)})
            for subscriber_id, email in found
        ),
    )
