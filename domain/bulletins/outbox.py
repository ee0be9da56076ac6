"""Bulletin live events (written by ``domain.events.record_bulletin``) and service statuses, kept inside a
bulletin use case's transaction.

A bulletin use case first locks the counters of the tenants it touches (``events.lock_counters``). That lock
serialises every bulletin change of a tenant, so the status each one derives from the tenant's
bulletins sees every earlier change, and it numbers the tenant's events in commit order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.bulletins import phases
from domain.bulletins.models import (
    Bulletin,
    BulletinEvent,
    BulletinEventKind,
    BulletinService,
    ServiceStatusRow,
)
from domain.bulletins.phases import ServiceStatus
from domain.events import record_bulletin


async def record_bulletin_changed(
    session: AsyncSession, bulletin: Bulletin, at: datetime, data: dict[str, Any] | None = None
) -> BulletinEvent:
    """Record a change of the bulletin. The event names the services the bulletin affects, so that a
    subscriber following some services only passes over the others' changes without reading them."""
    await session.flush()  # the bulletin's services, added with it
    affected = await session.scalars(
        select(BulletinService.service_id)
        .where(BulletinService.tenant_id == bulletin.tenant_id, BulletinService.bulletin_id == bulletin.id)
        .order_by(BulletinService.service_id)
    )
    return await record_bulletin(
        session,
        BulletinEvent(
            tenant_id=bulletin.tenant_id,
            id=uuid.uuid4(),
            kind=BulletinEventKind.BULLETIN_CHANGED,
            bulletin_id=bulletin.id,
            published=bulletin.published,
            data={"phase": bulletin.phase.value, "services": [str(s) for s in affected], **(data or {})},
            at=at,
        ),
    )


async def refresh_statuses(
    session: AsyncSession, tenant_id: uuid.UUID, service_ids: Iterable[uuid.UUID], at: datetime
) -> dict[uuid.UUID, ServiceStatus]:
    """Recompute the services' statuses from the tenant's bulletins; store and announce each change.

    Returns the services whose status changed, with their new status."""
    wanted = sorted(set(service_ids))
    if not wanted:
        return {}
    await session.flush()
    rows = await session.execute(
        select(
            Bulletin.kind,
            Bulletin.phase,
            Bulletin.published,
            BulletinService.service_id,
            BulletinService.status,
        )
        .join(
            Bulletin,
            (Bulletin.tenant_id == BulletinService.tenant_id) & (Bulletin.id == BulletinService.bulletin_id),
        )
        .where(BulletinService.tenant_id == tenant_id, BulletinService.service_id.in_(wanted))
    )
    declarations = [
        phases.Declaration(kind, phase, published, sid, status)
        for kind, phase, published, sid, status in rows
    ]
    computed = phases.service_statuses(wanted, declarations)
    stored = {
        key: value
        for key, value in (
            await session.execute(
                select(ServiceStatusRow.service_id, ServiceStatusRow.status).where(
                    ServiceStatusRow.tenant_id == tenant_id, ServiceStatusRow.service_id.in_(wanted)
                )
            )
        )
    }
    changed = {
        sid: status
        for sid, status in computed.items()
        if stored.get(sid, ServiceStatus.OPERATIONAL) != status
    }
    for service_id, status in changed.items():
        await session.execute(
            insert(ServiceStatusRow)
            .values(tenant_id=tenant_id, service_id=service_id, status=status, changed_at=at)
            .on_conflict_do_update(
                index_elements=["tenant_id", "service_id"], set_={"status": status, "changed_at": at}
            )
        )
        await record_bulletin(
            session,
            BulletinEvent(
                tenant_id=tenant_id,
                id=uuid.uuid4(),
                kind=BulletinEventKind.SERVICE_STATUS_CHANGED,
                published=True,
                service_id=service_id,
                status=status,
                data={"from": stored.get(service_id, ServiceStatus.OPERATIONAL).value},
                at=at,
            ),
        )
    return changed


async def declared_services(session: AsyncSession, bulletin: Bulletin) -> set[uuid.UUID]:
    await session.flush()
    rows = await session.scalars(
        select(BulletinService.service_id).where(
            BulletinService.tenant_id == bulletin.tenant_id, BulletinService.bulletin_id == bulletin.id
        )
    )
    return set(rows)
