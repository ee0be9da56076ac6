"""The SLA report of a tenant over a period: one aggregate statement, whatever the number of incidents.

Incidents count when reported in ``[start, end)``; cancelled incidents are left out. Per clock (from the
stored outcomes in ``incident_sla``, kept current by every change and by the scanner):

- a clock is *decided* once it stopped (met or breached) or breached while running; compliance is the
  share of decided clocks that were met, None when none is decided;
- MTTA and MTTR are the mean business minutes counted by the response and the resolution clocks that
  stopped (responded, resolved or closed); incidents no contract governs have no business time and are
  left out of these means and of compliance, but they are counted;
- ``breached`` counts incidents either of whose clocks breached; satisfaction is the mean 1..5 rating.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Select, and_, cast, func, literal_column, not_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from domain.db import Database, Scope
from domain.errors import ErrorCode, Refused, not_found
from domain.incidents.enums import IncidentStatus, Priority
from domain.incidents.models import Incident
from domain.sla.calendar import US_PER_MINUTE
from domain.sla.models import IncidentSla
from domain.tenancy.actor import Actor
from domain.tenancy.roles import Scope as OAuthScope
from domain.windows import check_window


@dataclass(frozen=True)
class PriorityFigures:
    priority: Priority
    incidents: int
    response_met: int
    resolution_met: int
    breached: int
    mean_time_to_respond_minutes: float | None
    mean_time_to_resolve_minutes: float | None
    response_compliance_percent: float | None
    resolution_compliance_percent: float | None


@dataclass(frozen=True)
class SlaReport:
    tenant_id: uuid.UUID
    start: datetime
    end: datetime
    incidents: int
    response_compliance_percent: float | None
    resolution_compliance_percent: float | None
    mean_time_to_respond_minutes: float | None
    mean_time_to_resolve_minutes: float | None
    average_satisfaction: float | None
    by_priority: list[PriorityFigures]


def clock_conditions(prefix: str) -> dict[str, ColumnElement[bool]]:
    """When a clock (``response`` or ``resolution``) has finished, was met, is decided, has breached."""
    stopped = getattr(IncidentSla, f"{prefix}_stopped")
    cancelled = getattr(IncidentSla, f"{prefix}_cancelled")
    breached = getattr(IncidentSla, f"{prefix}_breached")
    counted = and_(IncidentSla.contract_id.is_not(None), IncidentSla.priority.is_not(None))
    return {
        "governed": counted,
        "cancelled": and_(counted, cancelled),
        "finished": and_(counted, stopped, not_(cancelled)),
        "met": and_(counted, stopped, not_(cancelled), not_(breached)),
        "decided": and_(counted, not_(cancelled), (stopped | breached)),
        "breached": and_(counted, not_(cancelled), breached),
    }


def aggregates() -> list[Any]:
    """The report's figures as aggregate columns over incidents joined with their outcomes."""
    response, resolution = clock_conditions("response"), clock_conditions("resolution")

    def count(condition: ColumnElement[bool]) -> Any:
        return func.count().filter(condition)

    def mean_minutes(column: Any, condition: ColumnElement[bool]) -> Any:
        return func.avg(cast(column, Float)).filter(condition) / US_PER_MINUTE

    return [
        func.count().label("incidents"),
        count(response["met"]).label("response_met"),
        count(response["decided"]).label("response_decided"),
        count(resolution["met"]).label("resolution_met"),
        count(resolution["decided"]).label("resolution_decided"),
        count(response["breached"] | resolution["breached"]).label("breached"),
        mean_minutes(IncidentSla.response_elapsed_us, response["finished"]).label("mtta"),
        mean_minutes(IncidentSla.resolution_elapsed_us, resolution["finished"]).label("mttr"),
        func.avg(cast(Incident.satisfaction_score, Float)).label("satisfaction"),
    ]


def percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else 100.0 * part / whole


def as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def check_readable(actor: Actor, tenant_id: uuid.UUID) -> None:
    """Any member whose token carries ``sla:read`` (customers included) reads the tenant's SLA figures."""
    if actor.role_in(tenant_id) is None:
        raise not_found("tenant", "tenant")
    if not actor.can(OAuthScope.SLA_READ, tenant_id):
        raise Refused.one(
            ErrorCode.FORBIDDEN, f"reading the SLA report needs the {OAuthScope.SLA_READ} scope"
        )


def with_outcome(tenant_id: uuid.UUID) -> Select[Any]:
    """The tenant's incidents, each with its stored SLA outcome (if a contract governs it)."""
    return (
        select()
        .select_from(Incident)
        .outerjoin(
            IncidentSla,
            and_(IncidentSla.tenant_id == Incident.tenant_id, IncidentSla.incident_id == Incident.id),
        )
        .where(Incident.tenant_id == tenant_id)
    )


def counted_in(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    """The incidents a report over [start, end) counts: reported then, and not cancelled."""
    return [
        Incident.reported_at >= start,
        Incident.reported_at < end,
        Incident.status != IncidentStatus.CANCELLED,
    ]


async def sla_report(
    db: Database, actor: Actor, *, tenant_id: uuid.UUID, start: datetime, end: datetime
) -> SlaReport:
    """The tenant's report; any member whose token carries ``sla:read`` (customers included) may read it."""
    check_readable(actor, tenant_id)
    check_window(start, end)
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        return await read_report(session, tenant_id, start, end)


async def read_report(
    session: AsyncSession, tenant_id: uuid.UUID, start: datetime, end: datetime
) -> SlaReport:
    """The figures, read in one statement inside the caller's transaction."""
    priority = Incident.priority
    statement = (
        with_outcome(tenant_id)
        .add_columns(priority, literal_column("GROUPING(incidents.priority)").label("total"), *aggregates())
        .where(*counted_in(start, end))
        .group_by(func.grouping_sets(literal_column("(incidents.priority)"), literal_column("()")))
    )
    rows = (await session.execute(statement)).mappings().all()
    per_priority = {row["priority"]: row for row in rows if not row["total"]}
    totals = next((row for row in rows if row["total"]), None)
    by_priority = []
    for level in Priority:
        row = per_priority.get(level)
        by_priority.append(
            PriorityFigures(
                priority=level,
                incidents=int(row["incidents"]) if row else 0,
                response_met=int(row["response_met"]) if row else 0,
                resolution_met=int(row["resolution_met"]) if row else 0,
                breached=int(row["breached"]) if row else 0,
                mean_time_to_respond_minutes=as_float(row["mtta"]) if row else None,
                mean_time_to_resolve_minutes=as_float(row["mttr"]) if row else None,
                response_compliance_percent=(
                    percent(int(row["response_met"]), int(row["response_decided"])) if row else None
                ),
                resolution_compliance_percent=(
                    percent(int(row["resolution_met"]), int(row["resolution_decided"])) if row else None
                ),
            )
        )
    return SlaReport(
        tenant_id=tenant_id,
        start=start,
        end=end,
        incidents=int(totals["incidents"]) if totals else 0,
        response_compliance_percent=(
            percent(int(totals["response_met"]), int(totals["response_decided"])) if totals else None
        ),
        resolution_compliance_percent=(
            percent(int(totals["resolution_met"]), int(totals["resolution_decided"])) if totals else None
        ),
        mean_time_to_respond_minutes=as_float(totals["mtta"]) if totals else None,
        mean_time_to_resolve_minutes=as_float(totals["mttr"]) if totals else None,
        average_satisfaction=as_float(totals["satisfaction"]) if totals else None,
        by_priority=by_priority,
    )
