"""Incident trends: the SLA report's figures per period and group, to see where service improves or slips.

Periods are days, ISO weeks (from Monday) or months in the tenant's own timezone: an incident reported at
23:30 in Berlin on a Sunday belongs to that Sunday's week, whatever UTC says. Groups are the incident's
service, category or priority (or none: one row per period). The figures are the SLA report's, counted
the same way (``domain.sla.report``): incidents reported in ``[start, end)`` and not cancelled; MTTA and
MTTR are the mean business minutes of the clocks that stopped; the breach rate is the share of the
incidents a contract governs whose response or resolution clock breached; satisfaction is the mean rating.
Everything is read in one statement.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, literal_column

from domain.db import Database, Scope
from domain.incidents.enums import Priority
from domain.incidents.models import Incident
from domain.sla.report import (
    aggregates,
    as_float,
    check_readable,
    clock_conditions,
    counted_in,
    percent,
    with_outcome,
)
from domain.tenancy.actor import Actor
from domain.tenancy.models import Tenant
from domain.windows import check_window

# A trend covers at most two years, and daily periods at most a quarter: a few hundred periods at most.
MAX_DAYS = 731
MAX_DAILY_DAYS = 92


class TrendInterval(enum.StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


class TrendGrouping(enum.StrEnum):
    SERVICE = "SERVICE"
    CATEGORY = "CATEGORY"
    PRIORITY = "PRIORITY"


@dataclass(frozen=True)
class TrendBucket:
    """One period (and group) of the trend. Only the key of the chosen grouping is set."""

    period_start: date
    service_id: uuid.UUID | None
    category: str | None
    priority: Priority | None
    incidents: int
    mean_time_to_respond_minutes: float | None
    mean_time_to_resolve_minutes: float | None
    breach_rate_percent: float | None
    average_satisfaction: float | None


def _group_key(grouping: TrendGrouping | None) -> Any:
    """The column a grouping groups by (a NULL for none: every row then has the same shape)."""
    if grouping is TrendGrouping.SERVICE:
        return Incident.service_id
    if grouping is TrendGrouping.CATEGORY:
        return Incident.category
    if grouping is TrendGrouping.PRIORITY:
        return Incident.priority
    return literal_column("NULL")


def _check_period(start: datetime, end: datetime, interval: TrendInterval) -> None:
    check_window(start, end, at_most_days=MAX_DAYS, what="a trend")
    if interval is TrendInterval.DAY:
        check_window(start, end, at_most_days=MAX_DAILY_DAYS, what="a daily trend")


async def incident_trends(
    db: Database,
    actor: Actor,
    *,
    tenant_id: uuid.UUID,
    start: datetime,
    end: datetime,
    interval: TrendInterval = TrendInterval.WEEK,
    group_by: TrendGrouping | None = None,
) -> list[TrendBucket]:
    """The tenant's trend, oldest period first; readable by whoever may read its SLA report."""
    check_readable(actor, tenant_id)
    _check_period(start, end, interval)
    governed = clock_conditions("resolution")["governed"]
    breached = clock_conditions("response")["breached"] | clock_conditions("resolution")["breached"]
    # The report's instant as the tenant's wall clock, truncated to the period's first day.
    local = func.timezone(Tenant.timezone, Incident.reported_at)
    period = func.date(func.date_trunc(interval.value.lower(), local)).label("period")
    key = _group_key(group_by).label("key")
    statement = (
        with_outcome(tenant_id)
        .join(Tenant, Tenant.id == Incident.tenant_id)
        .add_columns(
            period,
            key,
            *aggregates(),
            func.count().filter(governed).label("governed"),
            func.count().filter(and_(governed, breached)).label("governed_breached"),
        )
        .where(*counted_in(start, end))
        .group_by(period, *([key] if group_by is not None else []))
        .order_by(period, key.asc().nulls_last())
    )
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        rows = (await session.execute(statement)).mappings().all()
    return [
        TrendBucket(
            period_start=row["period"],
            service_id=row["key"] if group_by is TrendGrouping.SERVICE else None,
            category=row["key"] if group_by is TrendGrouping.CATEGORY else None,
            priority=Priority(row["key"]) if group_by is TrendGrouping.PRIORITY and row["key"] else None,
            incidents=int(row["incidents"]),
            mean_time_to_respond_minutes=as_float(row["mtta"]),
            mean_time_to_resolve_minutes=as_float(row["mttr"]),
            breach_rate_percent=percent(int(row["governed_breached"]), int(row["governed"])),
            average_satisfaction=as_float(row["satisfaction"]),
        )
        for row in rows
    ]
