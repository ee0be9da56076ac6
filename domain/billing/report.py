"""The work report: billable and non-billable minutes of a tenant's work log, per group, in one statement.

- An entry counts on the day the work was done in the tenant's timezone (``worked_at`` read as local
  time by PostgreSQL from the tenant's row); the period is the local days ``from`` to ``to``, both
  included, at most ``MAX_DAYS`` of them.
- Groups: AGENT (the entry's author), INCIDENT, SERVICE (the incident's service as it is now; entries of
  incidents without one form a group with no service), DAY, WEEK (ISO weeks, Monday to Sunday, named by
  their Monday) and MONTH, in any combination; none gives one row, the total.
- A CUSTOMER member reads their tenant's totals per incident, service and period, never per agent:
  grouping by AGENT is refused (FORBIDDEN). Notes are never part of a report.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, DateTime, Select, and_, cast, func, literal_column, not_, select, tuple_
from sqlalchemy.sql import ColumnElement

from domain.catalog.models import Service
from domain.db import Database, Scope
from domain.errors import ErrorCode, Refused, forbidden, invalid, not_found
from domain.incidents.models import Incident, WorkLogEntry
from domain.tenancy.actor import Actor
from domain.tenancy.models import Tenant
from domain.tenancy.roles import Role
from domain.tenancy.roles import Scope as OAuthScope

MAX_DAYS = 366
# Groups one GraphQL answer may hold; the CSV export streams any number.
MAX_ROWS = 5000
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9999, 12, 1)


class WorkGrouping(enum.StrEnum):
    AGENT = "AGENT"
    INCIDENT = "INCIDENT"
    SERVICE = "SERVICE"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


@dataclass(frozen=True)
class WorkFigures:
    billable_minutes: int
    non_billable_minutes: int
    entries: int


@dataclass(frozen=True)
class WorkGroup:
    """One group of a report; only the fields of the report's groupings are set."""

    figures: WorkFigures
    agent: str | None = None
    incident_id: uuid.UUID | None = None
    incident_number: int | None = None
    incident_title: str | None = None
    service_id: uuid.UUID | None = None
    service_name: str | None = None
    day: date | None = None
    week: date | None = None  # the Monday of the ISO week
    month: date | None = None  # the first day of the month


@dataclass(frozen=True)
class WorkQuery:
    """A checked request for a report: who may read it has been decided."""

    tenant_id: uuid.UUID
    start: date
    end: date  # included
    group_by: tuple[WorkGrouping, ...]


@dataclass(frozen=True)
class WorkReport:
    query: WorkQuery
    total: WorkFigures
    rows: list[WorkGroup]


def utc_window(start: date, end: date) -> tuple[datetime, datetime]:
    """Instants that surely hold every instant whose local date, in any timezone, lies in [start, end]:
    UTC offsets stay within -12 and +14 hours, so a day's local instants lie within a day of its UTC day.
    Bounds the index scan; the exact test is on the local date."""
    return (
        datetime.combine(start, time(), UTC) - timedelta(days=1),
        datetime.combine(end, time(), UTC) + timedelta(days=2),
    )


def plan_work_report(
    actor: Actor, *, tenant_id: uuid.UUID, start: date, end: date, group_by: Sequence[WorkGrouping]
) -> WorkQuery:
    """Check the request (no I/O): membership, the incidents:read scope, the period and the groupings."""
    role = actor.role_in(tenant_id)
    if role is None:
        raise not_found("tenant", "tenant")
    if not actor.can(OAuthScope.INCIDENTS_READ, tenant_id):
        raise forbidden(f"reading the work report needs the {OAuthScope.INCIDENTS_READ} scope")
    if not (FIRST_DAY <= start <= LAST_DAY and FIRST_DAY <= end <= LAST_DAY):
        raise invalid(f"dates must lie between {FIRST_DAY} and {LAST_DAY}", "from")
    if end < start:
        raise invalid("must not be before from", "to")
    if (end - start).days + 1 > MAX_DAYS:
        raise Refused.one(ErrorCode.LIMIT_EXCEEDED, f"a report covers at most {MAX_DAYS} days", "to")
    if len(set(group_by)) != len(group_by):
        raise invalid("name each grouping once", "group_by")
    if role is Role.CUSTOMER and WorkGrouping.AGENT in group_by:
        raise forbidden("customers see totals per incident and service, not per agent", "group_by")
    return WorkQuery(tenant_id=tenant_id, start=start, end=end, group_by=tuple(group_by))


def _statement(query: WorkQuery) -> tuple[Select[Any], list[WorkGrouping]]:
    log, incident, service = WorkLogEntry, Incident, Service
    low, high = utc_window(query.start, query.end)
    entry = (
        select(
            log.author.label("agent"),
            log.incident_id,
            incident.number.label("incident_number"),
            incident.title.label("incident_title"),
            incident.service_id,
            service.name.label("service_name"),
            cast(func.timezone(Tenant.timezone, log.worked_at), Date).label("day"),
            log.minutes,
            log.billable,
        )
        .select_from(log)
        .join(incident, and_(incident.tenant_id == log.tenant_id, incident.id == log.incident_id))
        .join(Tenant, Tenant.id == log.tenant_id)
        .outerjoin(service, and_(service.tenant_id == incident.tenant_id, service.id == incident.service_id))
        .where(log.tenant_id == query.tenant_id, log.worked_at >= low, log.worked_at < high)
        .subquery("entry")
    )
    e = entry.c
    # date_trunc on a timestamp without time zone: the session's timezone plays no part. The units are
    # literals, not parameters, so that PostgreSQL sees the selected and the grouped expressions as one.
    midnight = cast(e.day, DateTime())
    columns: dict[WorkGrouping, list[ColumnElement[Any]]] = {
        WorkGrouping.AGENT: [e.agent],
        WorkGrouping.INCIDENT: [e.incident_id, e.incident_number, e.incident_title],
        WorkGrouping.SERVICE: [e.service_id, e.service_name],
        WorkGrouping.DAY: [e.day],
        WorkGrouping.WEEK: [cast(func.date_trunc(literal_column("'week'"), midnight), Date).label("week")],
        WorkGrouping.MONTH: [cast(func.date_trunc(literal_column("'month'"), midnight), Date).label("month")],
    }
    ordering: dict[WorkGrouping, list[Any]] = {
        WorkGrouping.AGENT: [e.agent],
        WorkGrouping.INCIDENT: [e.incident_number],
        WorkGrouping.SERVICE: [e.service_name.asc().nulls_last(), e.service_id],
        WorkGrouping.DAY: [e.day],
        WorkGrouping.WEEK: columns[WorkGrouping.WEEK],
        WorkGrouping.MONTH: columns[WorkGrouping.MONTH],
    }
    figures = [
        func.coalesce(func.sum(e.minutes).filter(e.billable), 0).label("billable_minutes"),
        func.coalesce(func.sum(e.minutes).filter(not_(e.billable)), 0).label("non_billable_minutes"),
        func.count().label("entries"),
    ]
    chosen = list(query.group_by)
    grouped = [column for g in chosen for column in columns[g]]
    statement = select(*figures).where(e.day >= query.start, e.day <= query.end)
    if not grouped:
        return statement, chosen
    # The groups and, in the same pass, the total (the empty grouping set), which comes first.
    statement = (
        statement.add_columns(func.grouping(grouped[0]).label("total"), *grouped)
        .group_by(func.grouping_sets(tuple_(*grouped), tuple_()))
        .order_by(func.grouping(grouped[0]).desc(), *(o for g in chosen for o in ordering[g]))
    )
    return statement, chosen


def _figures(row: Any) -> WorkFigures:
    return WorkFigures(
        billable_minutes=int(row["billable_minutes"]),
        non_billable_minutes=int(row["non_billable_minutes"]),
        entries=int(row["entries"]),
    )


def _group(row: Any, chosen: list[WorkGrouping]) -> WorkGroup:
    values: dict[str, Any] = {}
    if WorkGrouping.AGENT in chosen:
        values["agent"] = row["agent"]
    if WorkGrouping.INCIDENT in chosen:
        values.update(
            incident_id=row["incident_id"],
            incident_number=row["incident_number"],
            incident_title=row["incident_title"],
        )
    if WorkGrouping.SERVICE in chosen:
        values.update(service_id=row["service_id"], service_name=row["service_name"])
    for grouping, key in (
        (WorkGrouping.DAY, "day"),
        (WorkGrouping.WEEK, "week"),
        (WorkGrouping.MONTH, "month"),
    ):
        if grouping in chosen:
            values[key] = row[key]
    return WorkGroup(figures=_figures(row), **values)


async def work_report(
    db: Database,
    actor: Actor,
    *,
    tenant_id: uuid.UUID,
    start: date,
    end: date,
    group_by: Sequence[WorkGrouping] = (),
) -> WorkReport:
    """The report with its total; more than ``MAX_ROWS`` groups is LIMIT_EXCEEDED (the CSV export has
    no such limit)."""
    query = plan_work_report(actor, tenant_id=tenant_id, start=start, end=end, group_by=group_by)
    statement, chosen = _statement(query)
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        rows = (await session.execute(statement.limit(MAX_ROWS + 2))).mappings().all()
    total = _figures(rows[0])
    groups = [_group(row, chosen) for row in rows[1:]] if chosen else [WorkGroup(figures=total)]
    if len(groups) > MAX_ROWS:
        raise Refused.one(
            ErrorCode.LIMIT_EXCEEDED,
            f"more than {MAX_ROWS} groups: shorten the period, group less finely, or export the CSV",
            "group_by",
        )
    return WorkReport(query=query, total=total, rows=groups)


async def stream_work_report(db: Database, actor: Actor, query: WorkQuery) -> AsyncIterator[WorkGroup]:
    """Every group of a planned report, read through a cursor as they are consumed (the total only when
    nothing is grouped)."""
    statement, chosen = _statement(query)
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        result = await session.stream(statement)
        async for row in result.mappings():
            if not chosen:
                yield WorkGroup(figures=_figures(row))
            elif not row["total"]:
                yield _group(row, chosen)


__all__ = [
    "MAX_DAYS",
    "MAX_ROWS",
    "WorkFigures",
    "WorkGroup",
    "WorkGrouping",
    "WorkQuery",
    "WorkReport",
    "plan_work_report",
    "stream_work_report",
    "utc_window",
    "work_report",
]
