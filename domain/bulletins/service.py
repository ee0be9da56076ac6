"""Bulletin use cases. Each is one function running in one transaction; a refusal writes nothing.

A bulletin created for several tenants (a provider-wide outage) is one row per tenant sharing a
``broadcast_id``; publishing it or posting an update acts on every row of the broadcast in the
caller's tenants, in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain import events
from domain.bulletins import outbox, phases
from domain.bulletins.models import Bulletin, BulletinService, BulletinUpdate
from domain.bulletins.phases import BulletinKind, BulletinPhase, ServiceStatus
from domain.catalog.models import Service
from domain.columns import utcnow
from domain.db import Database, Scope, use_case
from domain.errors import ErrorCode, Problem, Refused, invalid, not_found
from domain.incidents.models import Incident
from domain.tenancy.actor import Actor, require_role
from domain.tenancy.roles import Role
from domain.tenancy.roles import Scope as OAuthScope

MAX_TITLE = 300
MAX_BODY = 20_000
MAX_TENANTS = 100
MAX_AFFECTED = 100
SYSTEM = "system"


@dataclass(frozen=True)
class Affected:
    service_id: uuid.UUID
    status: ServiceStatus


@dataclass(frozen=True)
class NewBulletin:
    tenant_ids: Sequence[uuid.UUID]
    kind: BulletinKind
    title: str
    body: str
    phase: BulletinPhase
    incident_id: uuid.UUID | None = None
    affected: Sequence[Affected] = ()
    scheduled_start: datetime | None = None
    scheduled_end: datetime | None = None
    publish: bool = False


@dataclass(frozen=True)
class NewUpdate:
    bulletin_id: uuid.UUID
    phase: BulletinPhase
    body: str
    # None keeps the affected services as they are; a sequence replaces them.
    affected: Sequence[Affected] | None = None


def _text(value: str, limit: int, *field: str) -> str:
    value = value.strip()
    if not value:
        raise invalid("must not be blank", *field)
    if len(value) > limit:
        raise invalid(f"must be at most {limit} characters", *field)
    return value


def _check_affected(affected: Sequence[Affected]) -> None:
    if len(affected) > MAX_AFFECTED:
        raise Refused.one(ErrorCode.LIMIT_EXCEEDED, f"at most {MAX_AFFECTED} services", "affected")
    seen: set[uuid.UUID] = set()
    for index, item in enumerate(affected):
        if item.service_id in seen:
            raise invalid("names a service twice", "affected", str(index), "service_id")
        seen.add(item.service_id)


def _check_schedule(kind: BulletinKind, start: datetime | None, end: datetime | None) -> None:
    if kind is not BulletinKind.MAINTENANCE:
        if start is not None:
            raise invalid("only a maintenance bulletin has a schedule", "scheduled_start")
        if end is not None:
            raise invalid("only a maintenance bulletin has a schedule", "scheduled_end")
        return
    if start is None:
        raise invalid("a maintenance bulletin needs its start", "scheduled_start")
    if end is None:
        raise invalid("a maintenance bulletin needs its end", "scheduled_end")
    if end <= start:
        raise invalid("must be after scheduledStart", "scheduled_end")


def _raise(problem: Problem | None) -> None:
    if problem is not None:
        raise Refused([problem])


async def _services_by_tenant(
    session: AsyncSession, tenant_ids: Sequence[uuid.UUID], affected: Sequence[Affected]
) -> dict[uuid.UUID, list[Affected]]:
    """The affected services grouped by the (named) tenant they belong to; any other is NOT_FOUND."""
    if not affected:
        return {}
    owners = {
        key: value
        for key, value in (
            await session.execute(
                select(Service.id, Service.tenant_id).where(
                    Service.tenant_id.in_(tenant_ids), Service.id.in_([a.service_id for a in affected])
                )
            )
        )
    }
    grouped: dict[uuid.UUID, list[Affected]] = {}
    for index, item in enumerate(affected):
        owner = owners.get(item.service_id)
        if owner is None:
            raise not_found("service", "affected", str(index), "service_id")
        grouped.setdefault(owner, []).append(item)
    return grouped


@use_case
async def create_bulletin(db: Database, actor: Actor, new: NewBulletin) -> list[Bulletin]:
    tenant_ids = list(dict.fromkeys(new.tenant_ids))
    if not tenant_ids:
        raise invalid("name at least one tenant", "tenant_ids")
    if len(tenant_ids) > MAX_TENANTS:
        raise Refused.one(ErrorCode.LIMIT_EXCEEDED, f"at most {MAX_TENANTS} tenants", "tenant_ids")
    for tenant_id in tenant_ids:
        require_role(actor, tenant_id, Role.AGENT, OAuthScope.BULLETINS_WRITE, what="publishing bulletins")
    title = _text(new.title, MAX_TITLE, "title")
    body = _text(new.body, MAX_BODY, "body")
    _raise(phases.opening_problem(new.kind, new.phase, "phase"))
    _check_schedule(new.kind, new.scheduled_start, new.scheduled_end)
    _check_affected(new.affected)
    now = utcnow()
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        await events.lock_counters(session, tenant_ids)
        incident_tenant = None
        if new.incident_id is not None:
            incident_tenant = await session.scalar(
                select(Incident.tenant_id).where(
                    Incident.id == new.incident_id, Incident.tenant_id.in_(tenant_ids)
                )
            )
            if incident_tenant is None:
                raise not_found("incident", "incident_id")
        affected = await _services_by_tenant(session, tenant_ids, new.affected)
        broadcast_id = uuid.uuid4()
        created = []
        for tenant_id in tenant_ids:
            bulletin = Bulletin(
                tenant_id=tenant_id,
                id=uuid.uuid4(),
                broadcast_id=broadcast_id,
                kind=new.kind,
                title=title,
                phase=new.phase,
                published=new.publish,
                incident_id=new.incident_id if tenant_id == incident_tenant else None,
                scheduled_start=new.scheduled_start,
                scheduled_end=new.scheduled_end,
                published_at=now if new.publish else None,
                created_by=actor.subject,
                version=1,
                created_at=now,
                updated_at=now,
            )
            session.add(bulletin)
            await session.flush()
            session.add(
                BulletinUpdate(
                    tenant_id=tenant_id,
                    id=uuid.uuid4(),
                    bulletin_id=bulletin.id,
                    phase=new.phase,
                    body=body,
                    author=actor.subject,
                    at=now,
                )
            )
            for item in affected.get(tenant_id, []):
                session.add(
                    BulletinService(
                        tenant_id=tenant_id,
                        bulletin_id=bulletin.id,
                        service_id=item.service_id,
                        status=item.status,
                    )
                )
            await outbox.record_bulletin_changed(session, bulletin, now, {"change": "created"})
            await outbox.refresh_statuses(
                session, tenant_id, [a.service_id for a in affected.get(tenant_id, [])], now
            )
            created.append(bulletin)
    return created


async def _broadcast_for_update(
    session: AsyncSession, actor: Actor, bulletin_id: uuid.UUID
) -> list[Bulletin]:
    """The bulletin's broadcast rows in the caller's tenants, locked; the caller must be an AGENT in each."""
    first = await session.scalar(select(Bulletin).where(Bulletin.id == bulletin_id))
    if first is None or actor.role_in(first.tenant_id) is None:
        raise not_found("bulletin", "bulletin_id")
    await events.lock_counters(
        session,
        (
            await session.scalars(
                select(Bulletin.tenant_id).where(
                    Bulletin.broadcast_id == first.broadcast_id, Bulletin.tenant_id.in_(actor.tenant_ids)
                )
            )
        ).all(),
    )
    rows = list(
        (
            await session.scalars(
                select(Bulletin)
                .where(Bulletin.broadcast_id == first.broadcast_id, Bulletin.tenant_id.in_(actor.tenant_ids))
                .order_by(Bulletin.tenant_id)
                .with_for_update()
            )
        ).all()
    )
    for row in rows:
        require_role(
            actor, row.tenant_id, Role.AGENT, OAuthScope.BULLETINS_WRITE, what="publishing bulletins"
        )
    return rows


@use_case
async def publish_bulletin(db: Database, actor: Actor, bulletin_id: uuid.UUID) -> list[Bulletin]:
    now = utcnow()
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        rows = await _broadcast_for_update(session, actor, bulletin_id)
        if all(row.published for row in rows):
            raise invalid("the bulletin is already published", "bulletin_id")
        for row in rows:
            if row.published:
                continue
            row.published = True
            row.published_at = now
            row.updated_at = now
            row.version += 1
            await outbox.record_bulletin_changed(session, row, now, {"change": "published"})
            await outbox.refresh_statuses(
                session, row.tenant_id, await outbox.declared_services(session, row), now
            )
    return rows


@use_case
async def post_bulletin_update(db: Database, actor: Actor, update: NewUpdate) -> list[Bulletin]:
    body = _text(update.body, MAX_BODY, "body")
    if update.affected is not None:
        _check_affected(update.affected)
    now = utcnow()
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        rows = await _broadcast_for_update(session, actor, update.bulletin_id)
        for row in rows:
            _raise(phases.step_problem(row.kind, row.phase, update.phase, "phase"))
        affected = (
            await _services_by_tenant(session, [r.tenant_id for r in rows], update.affected)
            if update.affected is not None
            else None
        )
        for row in rows:
            touched = await outbox.declared_services(session, row)
            if affected is not None:
                for old in (
                    await session.scalars(
                        select(BulletinService).where(
                            BulletinService.tenant_id == row.tenant_id, BulletinService.bulletin_id == row.id
                        )
                    )
                ).all():
                    await session.delete(old)
                await session.flush()
                for item in affected.get(row.tenant_id, []):
                    session.add(
                        BulletinService(
                            tenant_id=row.tenant_id,
                            bulletin_id=row.id,
                            service_id=item.service_id,
                            status=item.status,
                        )
                    )
                    touched.add(item.service_id)
            await _advance(session, row, update.phase, body, actor.subject, now)
            await outbox.refresh_statuses(session, row.tenant_id, touched, now)
    return rows


async def _advance(
    session: AsyncSession, row: Bulletin, phase: BulletinPhase, body: str, author: str, now: datetime
) -> None:
    row.phase = phase
    row.updated_at = now
    row.version += 1
    session.add(
        BulletinUpdate(
            tenant_id=row.tenant_id,
            id=uuid.uuid4(),
            bulletin_id=row.id,
            phase=phase,
            body=body,
            author=author,
            at=now,
        )
    )
    await outbox.record_bulletin_changed(session, row, now, {"change": "updated"})


AUTOMATIC_BODY = {
    BulletinPhase.IN_PROGRESS: "The maintenance window has started.",
    BulletinPhase.COMPLETED: "The maintenance window has ended.",
}


async def advance_maintenance(db: Database, now: datetime | None = None) -> tuple[int, datetime | None]:
    """Move every maintenance window that reached its start or end; each move in its own transaction.

    Safe on any number of replicas at once: each bulletin is re-read under lock and moved only if it
    is still due. Returns how many moved and when the next one falls due (None: none scheduled)."""
    now = now or utcnow()
    scope = Scope.of(await db.all_tenant_ids())
    open_phases = (BulletinPhase.SCHEDULED, BulletinPhase.IN_PROGRESS)
    async with db.transaction(scope) as session:
        candidates = (
            await session.execute(
                select(
                    Bulletin.tenant_id,
                    Bulletin.id,
                    Bulletin.phase,
                    Bulletin.scheduled_start,
                    Bulletin.scheduled_end,
                ).where(Bulletin.kind == BulletinKind.MAINTENANCE, Bulletin.phase.in_(open_phases))
            )
        ).all()
    moved = 0
    upcoming: list[datetime] = []
    for tenant_id, bulletin_id, phase, start, end in candidates:
        if phases.due_phase(BulletinKind.MAINTENANCE, phase, start, end, now) is None:
            upcoming.extend(
                t for t in (start if phase is BulletinPhase.SCHEDULED else None, end) if t is not None
            )
            continue
        async with db.transaction(Scope.of([tenant_id])) as session:
            await events.lock_counters(session, [tenant_id])
            row = await session.scalar(
                select(Bulletin)
                .where(Bulletin.tenant_id == tenant_id, Bulletin.id == bulletin_id)
                .with_for_update()
            )
            if row is None:
                continue
            due = phases.due_phase(row.kind, row.phase, row.scheduled_start, row.scheduled_end, now)
            if due is None:
                continue
            await _advance(session, row, due, AUTOMATIC_BODY[due], SYSTEM, now)
            await outbox.refresh_statuses(
                session, tenant_id, await outbox.declared_services(session, row), now
            )
            moved += 1
            if due is BulletinPhase.IN_PROGRESS and row.scheduled_end is not None:
                upcoming.append(row.scheduled_end)
    return moved, min(upcoming, default=None)
