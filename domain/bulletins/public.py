"""What an anonymous visitor of a tenant's public status page may see, read in that tenant's scope only.

Only tenants that enabled ``public_status_page`` have one; any other slug reads exactly like an unknown
one. The page shows services with their status, and the published, active bulletins (maintenance
windows included) with their updates, newest first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from domain.bulletins import phases
from domain.bulletins.models import (
    Bulletin,
    BulletinEvent,
    BulletinEventKind,
    BulletinService,
    BulletinUpdate,
    ServiceStatusRow,
)
from domain.bulletins.phases import FINAL_PHASES, ServiceStatus
from domain.catalog.models import Service
from domain.db import Database, Scope
from domain.tenancy.models import Tenant
from domain.tenancy.service import is_slug


@dataclass(frozen=True)
class PublicBulletin:
    bulletin: Bulletin
    updates: list[BulletinUpdate]
    affected: list[tuple[Service, ServiceStatus]]


@dataclass(frozen=True)
class PublicView:
    tenant: Tenant
    services: list[tuple[Service, ServiceStatus]]
    bulletins: list[PublicBulletin] = field(default_factory=list)

    @property
    def overall(self) -> ServiceStatus:
        return phases.worst(status for _, status in self.services)

    @property
    def updated_at(self) -> datetime | None:
        stamps = [b.bulletin.updated_at for b in self.bulletins]
        return max(stamps, default=None)

    def fingerprint(self) -> tuple[object, ...]:
        """What a visitor sees of the page: two reads with the same fingerprint show the same page (a
        read made while changes were arriving may already show a change that arrives after it)."""
        return (
            self.tenant.name,
            tuple((service.id, service.name, status) for service, status in self.services),
            tuple(
                (
                    b.bulletin.id,
                    b.bulletin.title,
                    b.bulletin.phase,
                    b.bulletin.updated_at,
                    tuple(update.id for update in b.updates),
                    tuple((service.id, status) for service, status in b.affected),
                )
                for b in self.bulletins
            ),
        )


async def public_tenant(db: Database, slug: str) -> Tenant | None:
    """The tenant of a public status page, or None (unknown slug, or no public page: the same answer)."""
    slug = slug.strip().lower()
    if not is_slug(slug):
        return None
    async with db.transaction(Scope()) as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    return tenant if tenant is not None and tenant.public_status_page else None


async def public_view(db: Database, tenant: Tenant) -> PublicView:
    async with db.transaction(Scope.of([tenant.id])) as session:
        return await read_view(session, tenant)


async def current_view(db: Database, tenant_id: uuid.UUID) -> PublicView | None:
    """The tenant's page as it is now, in one transaction; None once the tenant switched its page off."""
    async with db.transaction(Scope.of([tenant_id])) as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.id == tenant_id))
        if tenant is None or not tenant.public_status_page:
            return None
        return await read_view(session, tenant)


async def read_view(session: AsyncSession, tenant: Tenant) -> PublicView:
    """The view in a transaction the caller holds (in the tenant's scope), so that a page reading more
    than the view reads it all from one transaction."""
    services = list(
        (
            await session.scalars(
                select(Service).where(Service.tenant_id == tenant.id).order_by(Service.name, Service.id)
            )
        ).all()
    )
    statuses = {
        key: value
        for key, value in (
            await session.execute(
                select(ServiceStatusRow.service_id, ServiceStatusRow.status).where(
                    ServiceStatusRow.tenant_id == tenant.id
                )
            )
        )
    }
    bulletins = list(
        (
            await session.scalars(
                select(Bulletin)
                .where(
                    Bulletin.tenant_id == tenant.id,
                    Bulletin.published.is_(True),
                    Bulletin.phase.not_in(sorted(FINAL_PHASES)),
                )
                .order_by(Bulletin.created_at.desc(), Bulletin.id.desc())
                .limit(50)
            )
        ).all()
    )
    return PublicView(
        tenant=tenant,
        services=[(s, statuses.get(s.id, ServiceStatus.OPERATIONAL)) for s in services],
        bulletins=await with_details(session, bulletins, services),
    )


async def with_details(
    session: AsyncSession, bulletins: Sequence[Bulletin], services: Sequence[Service]
) -> list[PublicBulletin]:
    """Published bulletins with their updates (newest first) and the services they affect, in two
    statements whatever their number."""
    keys = [(b.tenant_id, b.id) for b in bulletins]
    updates: dict[uuid.UUID, list[BulletinUpdate]] = {}
    affected: dict[uuid.UUID, list[tuple[uuid.UUID, ServiceStatus]]] = {}
    if keys:
        for update in (
            await session.scalars(
                select(BulletinUpdate)
                .where(tuple_(BulletinUpdate.tenant_id, BulletinUpdate.bulletin_id).in_(keys))
                .order_by(BulletinUpdate.at.desc(), BulletinUpdate.id)
            )
        ).all():
            updates.setdefault(update.bulletin_id, []).append(update)
        for row in (
            await session.scalars(
                select(BulletinService).where(
                    tuple_(BulletinService.tenant_id, BulletinService.bulletin_id).in_(keys)
                )
            )
        ).all():
            affected.setdefault(row.bulletin_id, []).append((row.service_id, row.status))
    by_id = {s.id: s for s in services}
    return [
        PublicBulletin(
            bulletin=b,
            updates=updates.get(b.id, []),
            affected=[(by_id[sid], status) for sid, status in affected.get(b.id, []) if sid in by_id],
        )
        for b in bulletins
    ]


async def public_service_ids(db: Database, tenant: Tenant, slugs: Iterable[str]) -> dict[str, uuid.UUID]:
    """The tenant's services named by these slugs (those that exist), as a status page embed names them."""
    wanted = sorted({slug.strip().lower() for slug in slugs})
    async with db.transaction(Scope.of([tenant.id])) as session:
        rows = await session.execute(
            select(Service.slug, Service.id).where(Service.tenant_id == tenant.id, Service.slug.in_(wanted))
        )
        return {slug: service_id for slug, service_id in rows}


def concerns(event: BulletinEvent, services: frozenset[uuid.UUID]) -> bool:
    """Whether a bulletin event changes what a page showing only ``services`` shows: a status change of
    one of them, or a change of a bulletin that affects one of them or no service in particular (a
    tenant-wide notice). Events written before they named their services concern every page."""
    if event.kind is BulletinEventKind.SERVICE_STATUS_CHANGED:
        return event.service_id in services
    named = event.data.get("services")
    if not isinstance(named, list):
        return True
    return not named or any(uuid.UUID(value) in services for value in named)


def only(view: PublicView, services: frozenset[uuid.UUID]) -> PublicView:
    """The page as an embed showing only ``services`` shows it: those services, and the bulletins that
    affect one of them or no service in particular."""
    return PublicView(
        tenant=view.tenant,
        services=[(s, status) for s, status in view.services if s.id in services],
        bulletins=[
            b for b in view.bulletins if not b.affected or any(s.id in services for s, _ in b.affected)
        ],
    )


async def public_status(db: Database, slug: str) -> PublicView | None:
    tenant = await public_tenant(db, slug)
    return await public_view(db, tenant) if tenant is not None else None
