"""Reading bulletins: the bulletins listing, and batched reads of bulletins and service statuses for the
edge's loaders (one statement per batch), in the session's tenant scope (row-level security decides what
is found)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from domain.batches import all_each, one_each
from domain.bulletins import models as m
from domain.bulletins.phases import FINAL_PHASES, ServiceStatus
from domain.catalog.models import Service
from domain.reads.pages import Keyset, Paged

Key = tuple[uuid.UUID, uuid.UUID]  # (tenant_id, id)

NEWEST_FIRST = Keyset((m.Bulletin.created_at, m.Bulletin.id), descending=True)


def bulletin_listing(
    *, tenant_ids: Collection[uuid.UUID], staff_tenant_ids: Collection[uuid.UUID], active_only: bool
) -> Paged[m.Bulletin]:
    """The bulletins of ``tenant_ids``, newest first. Drafts are for staff: outside ``staff_tenant_ids``
    (where the reader has internal sight) only published bulletins are listed. ``active_only``: only
    published bulletins not yet in a final phase (resolved, completed)."""
    statement = select(m.Bulletin).where(
        m.Bulletin.tenant_id.in_(tenant_ids),
        or_(m.Bulletin.published.is_(True), m.Bulletin.tenant_id.in_(staff_tenant_ids)),
    )
    if active_only:
        statement = statement.where(
            m.Bulletin.published.is_(True), m.Bulletin.phase.not_in(sorted(FINAL_PHASES))
        )
    return Paged(statement, NEWEST_FIRST)


async def service_statuses(session: AsyncSession, keys: Sequence[Key]) -> list[ServiceStatus]:
    rows = (
        await session.execute(
            select(
                m.ServiceStatusRow.tenant_id, m.ServiceStatusRow.service_id, m.ServiceStatusRow.status
            ).where(tuple_(m.ServiceStatusRow.tenant_id, m.ServiceStatusRow.service_id).in_(keys))
        )
    ).all()
    found = {(t, s): status for t, s, status in rows}
    return [found.get(k, ServiceStatus.OPERATIONAL) for k in keys]


async def bulletins(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[m.Bulletin | None]:
    rows = await session.scalars(select(m.Bulletin).where(m.Bulletin.id.in_(ids)))
    return one_each(ids, rows, lambda row: row.id)


async def updates(session: AsyncSession, keys: Sequence[Key]) -> list[list[m.BulletinUpdate]]:
    rows = await session.scalars(
        select(m.BulletinUpdate)
        .where(tuple_(m.BulletinUpdate.tenant_id, m.BulletinUpdate.bulletin_id).in_(keys))
        .order_by(m.BulletinUpdate.at.desc(), m.BulletinUpdate.id)
    )
    return all_each(keys, rows, lambda row: (row.tenant_id, row.bulletin_id))


async def affected(session: AsyncSession, keys: Sequence[Key]) -> list[list[tuple[Service, ServiceStatus]]]:
    rows = await session.execute(
        select(m.BulletinService, Service)
        .join(
            Service,
            (Service.tenant_id == m.BulletinService.tenant_id) & (Service.id == m.BulletinService.service_id),
        )
        .where(tuple_(m.BulletinService.tenant_id, m.BulletinService.bulletin_id).in_(keys))
        .order_by(Service.name, Service.id)
    )
    linked = all_each(keys, rows, lambda pair: (pair[0].tenant_id, pair[0].bulletin_id))
    return [[(service, link.status) for link, service in pairs] for pairs in linked]


async def bulletin_count(session: AsyncSession, *, tenant_id: uuid.UUID) -> int:
    """How many bulletins the tenant has, drafts included."""
    count = await session.scalar(
        select(func.count()).select_from(m.Bulletin).where(m.Bulletin.tenant_id == tenant_id)
    )
    return int(count or 0)
