"""The SLA export: the report's figures (total and per priority) followed by one row per incident it
counts, all read from one snapshot so that the rows add up to the figures.

The period is given in local days of the tenant's timezone, ``from`` and ``to`` both included: the
report runs over [00:00 of ``from``, 00:00 of the day after ``to``) there, and counts what ``slaReport``
counts over those instants. Each incident's clocks read as the report judges them (``clock_conditions``):
MET, BREACHED (while running too), RUNNING, CANCELLED, or none when no contract governs the incident;
their business minutes are given once the clock has finished, as MTTA and MTTR average them.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Float, case, cast, func, literal, select

from domain.db import Database, Scope
from domain.errors import ErrorCode, Refused, invalid
from domain.incidents.enums import IncidentStatus, Priority
from domain.incidents.models import Incident
from domain.sla.calendar import US_PER_MINUTE
from domain.sla.models import IncidentSla
from domain.sla.report import (
    SlaReport,
    check_readable,
    clock_conditions,
    counted_in,
    read_report,
    with_outcome,
)
from domain.tenancy.actor import Actor
from domain.tenancy.models import Tenant

MAX_DAYS = 366
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9999, 12, 1)


class ClockOutcome(enum.StrEnum):
    MET = "MET"
    BREACHED = "BREACHED"
    RUNNING = "RUNNING"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class IncidentOutcome:
    incident_id: uuid.UUID
    number: int
    title: str
    priority: Priority
    status: IncidentStatus
    reported_at: datetime
    response: ClockOutcome | None
    response_minutes: float | None
    resolution: ClockOutcome | None
    resolution_minutes: float | None
    satisfaction: int | None


@dataclass(frozen=True)
class SlaExportQuery:
    tenant_id: uuid.UUID
    start: date
    end: date  # included


def plan_sla_export(actor: Actor, *, tenant_id: uuid.UUID, start: date, end: date) -> SlaExportQuery:
    """Check the request (no I/O): who may read the tenant's SLA figures, and the period."""
    check_readable(actor, tenant_id)
    if not (FIRST_DAY <= start <= LAST_DAY and FIRST_DAY <= end <= LAST_DAY):
        raise invalid(f"dates must lie between {FIRST_DAY} and {LAST_DAY}", "from")
    if end < start:
        raise invalid("must not be before from", "to")
    if (end - start).days + 1 > MAX_DAYS:
        raise Refused.one(ErrorCode.LIMIT_EXCEEDED, f"an export covers at most {MAX_DAYS} days", "to")
    return SlaExportQuery(tenant_id=tenant_id, start=start, end=end)


def _clock(prefix: str) -> tuple[Any, Any]:
    """A clock's outcome and, once finished, its business minutes."""
    conditions = clock_conditions(prefix)
    outcome = case(
        (conditions["cancelled"], ClockOutcome.CANCELLED.value),
        (conditions["breached"], ClockOutcome.BREACHED.value),
        (conditions["met"], ClockOutcome.MET.value),
        (conditions["governed"], ClockOutcome.RUNNING.value),
        else_=None,
    )
    elapsed = getattr(IncidentSla, f"{prefix}_elapsed_us")
    minutes = case((conditions["finished"], cast(elapsed, Float) / US_PER_MINUTE), else_=None)
    return outcome.label(prefix), minutes.label(f"{prefix}_minutes")


def _outcome(row: Any) -> IncidentOutcome:
    def clock(name: str) -> ClockOutcome | None:
        return None if row[name] is None else ClockOutcome(row[name])

    def minutes(name: str) -> float | None:
        return None if row[name] is None else float(row[name])

    return IncidentOutcome(
        incident_id=row["id"],
        number=row["number"],
        title=row["title"],
        priority=row["priority"],
        status=row["status"],
        reported_at=row["reported_at"],
        response=clock("response"),
        response_minutes=minutes("response_minutes"),
        resolution=clock("resolution"),
        resolution_minutes=minutes("resolution_minutes"),
        satisfaction=row["satisfaction_score"],
    )


async def stream_sla_export(
    db: Database, actor: Actor, query: SlaExportQuery
) -> AsyncIterator[SlaReport | IncidentOutcome]:
    """The report first, then its incidents oldest first, read through a cursor as they are consumed."""
    async with db.transaction(Scope.of(actor.tenant_ids), isolation_level="REPEATABLE READ") as session:
        bounds = select(
            *(
                func.timezone(Tenant.timezone, cast(literal(day), DateTime()))
                for day in (query.start, query.end + timedelta(days=1))
            )
        ).where(Tenant.id == query.tenant_id)
        start, end = (await session.execute(bounds)).one()
        yield await read_report(session, query.tenant_id, start, end)
        statement = (
            with_outcome(query.tenant_id)
            .add_columns(
                Incident.id,
                Incident.number,
                Incident.title,
                Incident.priority,
                Incident.status,
                Incident.reported_at,
                Incident.satisfaction_score,
                *_clock("response"),
                *_clock("resolution"),
            )
            .where(*counted_in(start, end))
            .order_by(Incident.reported_at, Incident.number)
        )
        result = await session.stream(statement)
        async for row in result.mappings():
            yield _outcome(row)


__all__ = [
    "ClockOutcome",
    "IncidentOutcome",
    "SlaExportQuery",
    "plan_sla_export",
    "stream_sla_export",
]
