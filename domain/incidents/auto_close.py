"""Auto-close: a RESOLVED incident the customer neither confirmed nor rejected closes by itself once its
tenant's delay has passed (``tenants.auto_close_days``, 3 by default), and a RESOLVED child closes with a
CLOSED parent. The system closes it: a CLOSED event without an actor.

Every replica runs an ``AutoCloser``, and any number of them may scan at once: each batch locks its
incidents with ``FOR UPDATE ... SKIP LOCKED``, so a row another replica is closing is skipped rather than
waited for, and the status machine refuses to close an incident twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.background import RoundWorker
from domain.columns import utcnow
from domain.db import Database, Scope
from domain.incidents.enums import IncidentStatus
from domain.incidents.lifecycle import Operation
from domain.incidents.models import Incident, IncidentLink, IncidentReview
from domain.incidents.relations import flow_from_parent
from domain.incidents.steps import commit_step, review_published, system_step
from domain.tenancy.models import Tenant

log = logging.getLogger(__name__)

BATCH = 200


def _due(now: datetime, batch: int) -> Select[Incident]:
    parent = aliased(Incident)
    delay = func.make_interval(0, 0, 0, Tenant.auto_close_days)
    parent_closed = exists().where(
        IncidentLink.tenant_id == Incident.tenant_id,
        IncidentLink.child_id == Incident.id,
        parent.tenant_id == IncidentLink.parent_tenant_id,
        parent.id == IncidentLink.parent_id,
        parent.status == IncidentStatus.CLOSED,
    )
    reviewed = exists().where(
        IncidentReview.tenant_id == Incident.tenant_id,
        IncidentReview.incident_id == Incident.id,
        IncidentReview.published.is_(True),
    )
    return (
        select(Incident)
        .join(Tenant, Tenant.id == Incident.tenant_id)
        .where(
            Incident.status == IncidentStatus.RESOLVED,
            or_(Incident.resolved_at + delay <= now, parent_closed),
            # A major incident waits for its published review: it is not due before.
            or_(Incident.major.is_(False), and_(Incident.major.is_(True), reviewed)),
        )
        .order_by(Incident.resolved_at, Incident.id)
        .limit(batch)
        .with_for_update(of=Incident, skip_locked=True)
        .execution_options(populate_existing=True)
    )


async def _close(session: AsyncSession, incident: Incident) -> int:
    if incident.status is not IncidentStatus.RESOLVED:
        return 0  # closed with its parent earlier in this batch
    published = incident.major and await review_published(session, incident)
    accepted = system_step(incident, Operation.CLOSE, review_published=published)
    if accepted is None:  # pragma: no cover - the scan selects only closable incidents
        return 0
    await commit_step(session, incident, accepted, None, message="closed automatically", data={"auto": True})
    return 1 + await flow_from_parent(session, incident, IncidentStatus.RESOLVED)


async def close_due_incidents(db: Database, now: datetime | None = None, *, batch: int = BATCH) -> int:
    """Close every incident that is due at ``now`` across all tenants; returns how many closed (children
    closing with their parent included). Safe to run on several replicas at once."""
    now = now or utcnow()
    tenant_ids = await db.all_tenant_ids()
    if not tenant_ids:
        return 0
    closed = 0
    while True:
        async with db.transaction(Scope.of(tenant_ids)) as session:
            due = list((await session.scalars(_due(now, batch))).all())
            closed_now = 0
            for incident in due:
                closed_now += await _close(session, incident)
        closed += closed_now
        if len(due) < batch or closed_now == 0:
            return closed


class AutoCloser(RoundWorker):
    """This replica's scan for due incidents: one every ``interval_seconds``, the first after one interval
    (a starting replica has more pressing work). A failed scan is logged and retried after a backoff."""

    name = "auto-close"

    def __init__(self, db: Database, *, interval_seconds: float) -> None:
        super().__init__()
        self.db = db
        self.interval_seconds = interval_seconds
        self.first_round_after = interval_seconds

    async def round(self) -> float:
        count = await close_due_incidents(self.db)
        if count:
            log.info("auto-closed %d incidents", count)
        return self.interval_seconds
