"""Reading the outbox back: a tenant's live events past a ``seq``, and every tenant's high-water mark.

These reads run in a system scope (the tenants concerned, not a caller's): the hub reads on behalf of
every subscriber of the process, and each subscriber's ``Feed`` filters what it may see.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from domain.bulletins.models import BulletinEvent, BulletinEventKind, ServiceStatusRow
from domain.bulletins.phases import ServiceStatus
from domain.catalog.models import Service
from domain.db import Database, Scope
from domain.incidents.models import Incident, IncidentEvent
from domain.tenancy.models import TenantCounter

PAGE = 500


@dataclass(frozen=True)
class LiveEvent:
    """One committed event of a tenant: exactly one of ``incident`` and ``bulletin`` is set."""

    tenant_id: uuid.UUID
    seq: int
    incident: IncidentEvent | None = None
    bulletin: BulletinEvent | None = None
    # The service of an incident event's incident, as it is when the event is read: subscribers that
    # follow some services only filter on it before anything is rendered.
    service_id: uuid.UUID | None = None
    # What an event's subscribers render, as it is when the event is read: read once here for every
    # subscriber of the process rather than once by each of them. An incident event's incident (and its
    # service); a status change's service.
    incident_row: Incident | None = None
    service: Service | None = None
    # The current status of an incident event's service (no row in service_statuses: OPERATIONAL).
    service_status: ServiceStatus | None = None

    @property
    def is_bulletin_change(self) -> bool:
        return self.bulletin is not None and self.bulletin.kind is BulletinEventKind.BULLETIN_CHANGED

    @property
    def is_status_change(self) -> bool:
        return self.bulletin is not None and self.bulletin.kind is BulletinEventKind.SERVICE_STATUS_CHANGED


async def high_water_marks(db: Database) -> dict[uuid.UUID, int]:
    """Every tenant's last allocated ``seq``, as committed now."""
    async with db.transaction(Scope.of(await db.all_tenant_ids())) as session:
        rows = await session.execute(select(TenantCounter.tenant_id, TenantCounter.last_event_seq))
        return {tenant_id: int(seq) for tenant_id, seq in rows}


async def events_after(
    db: Database, tenant_id: uuid.UUID, after_seq: int, limit: int = PAGE
) -> list[LiveEvent]:
    """Up to ``limit`` committed events of the tenant with ``seq > after_seq``, in ``seq`` order.

    Both outbox tables share the tenant's counter, so one snapshot of both holds every event in range:
    the two reads run in one REPEATABLE READ transaction, or an incident event committing between them
    could be passed over by a later bulletin event's ``seq``. When either table fills its page, the
    result stops where that table's page stops, so the next call (from the last ``seq`` returned)
    misses nothing of the other.
    """
    async with db.transaction(Scope.of([tenant_id]), isolation_level="REPEATABLE READ") as session:
        incident_rows = list(
            (
                await session.execute(
                    select(IncidentEvent, Incident, Service, ServiceStatusRow.status)
                    .select_from(IncidentEvent)
                    .join(
                        Incident,
                        (Incident.tenant_id == IncidentEvent.tenant_id)
                        & (Incident.id == IncidentEvent.incident_id),
                    )
                    .outerjoin(
                        Service,
                        (Service.tenant_id == Incident.tenant_id) & (Service.id == Incident.service_id),
                    )
                    .outerjoin(
                        ServiceStatusRow,
                        (ServiceStatusRow.tenant_id == Service.tenant_id)
                        & (ServiceStatusRow.service_id == Service.id),
                    )
                    .where(IncidentEvent.tenant_id == tenant_id, IncidentEvent.seq > after_seq)
                    .order_by(IncidentEvent.seq)
                    .limit(limit)
                )
            ).all()
        )
        bulletin_rows = list(
            (
                await session.scalars(
                    select(BulletinEvent)
                    .where(BulletinEvent.tenant_id == tenant_id, BulletinEvent.seq > after_seq)
                    .order_by(BulletinEvent.seq)
                    .limit(limit)
                )
            ).all()
        )
        changed = {
            r.service_id
            for r in bulletin_rows
            if r.kind is BulletinEventKind.SERVICE_STATUS_CHANGED and r.service_id is not None
        }
        services = (
            {
                service.id: service
                for service in await session.scalars(
                    select(Service).where(Service.tenant_id == tenant_id, Service.id.in_(changed))
                )
            }
            if changed
            else {}
        )
    events = [
        LiveEvent(
            tenant_id,
            r.seq,
            incident=r,
            service_id=of.service_id,
            incident_row=of,
            service=service,
            service_status=(status or ServiceStatus.OPERATIONAL) if service is not None else None,
        )
        for r, of, service, status in incident_rows
    ]
    events += [
        LiveEvent(
            tenant_id,
            r.seq,
            bulletin=r,
            service=services.get(r.service_id)
            if r.service_id is not None and r.kind is BulletinEventKind.SERVICE_STATUS_CHANGED
            else None,
        )
        for r in bulletin_rows
    ]
    events.sort(key=lambda e: e.seq)
    cap: int | None = None
    for seqs in ([row[0].seq for row in incident_rows], [r.seq for r in bulletin_rows]):
        if len(seqs) >= limit:
            cap = seqs[-1] if cap is None else min(cap, seqs[-1])
    if cap is not None:
        events = [e for e in events if e.seq <= cap]
    return events[:limit]
