"""GraphQL types of billing: work entries, billing periods and the work report, thin over the domain's
rows and results (``from_row``/``from_report`` name what differs from them; ``api.mapping`` copies the
rest)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import strawberry

from api import fields
from api.catalog.types import Service, service_by_key
from api.context import Info
from api.incidents.types import Incident, incident_by_id
from api.mapping import mapped
from api.relay import Node, encode_id
from api.tenancy.types import InTenant, Tenant, tenant_by_id
from domain.billing import periods
from domain.billing import report as r
from domain.incidents import models as m

# strawberry.enum marks the class in place and returns it: the GraphQL enum is the domain's class itself,
# and the name below is a plain alias of it, which annotations can use as a type.
strawberry.enum(r.WorkGrouping, name="WorkReportGrouping")
WorkReportGrouping = r.WorkGrouping


@strawberry.type(name="WorkLogEntry", description="Time spent on an incident; staff only")
class WorkLogEntry(Node, InTenant):
    author: str
    minutes: int
    billable: bool
    note: str | None
    worked_at: datetime = strawberry.field(description="When the work was done; its local month bills it")
    logged_at: datetime
    row: strawberry.Private[m.WorkLogEntry]

    @classmethod
    def from_row(cls, row: m.WorkLogEntry) -> WorkLogEntry:
        return mapped(cls, row, id=encode_id("WorkLogEntry", row.id), row=row)

    @strawberry.field
    async def incident(self, info: Info) -> Incident:
        found = await incident_by_id(info, self.row.incident_id)
        if found is None:  # pragma: no cover - an entry is only visible with its incident
            raise LookupError(self.row.incident_id)
        return found


@strawberry.type(name="BillingPeriod", description="A closed month of a tenant's books")
class BillingPeriod(InTenant):
    month: str = strawberry.field(description='"YYYY-MM", in the tenant\'s timezone')
    closed_at: datetime
    closed_by: str
    row: strawberry.Private[periods.ClosedMonth]

    @classmethod
    def from_row(cls, row: periods.ClosedMonth) -> BillingPeriod:
        return mapped(cls, row, month=row.label, row=row)


@strawberry.type(name="WorkFigures")
class WorkFigures:
    billable_minutes: int
    non_billable_minutes: int
    entries: int

    @classmethod
    def from_figures(cls, figures: r.WorkFigures) -> WorkFigures:
        return mapped(cls, figures)


def iso_week(monday: date) -> str:
    """An ISO week's name, ``2026-W09``."""
    year, week, _ = monday.isocalendar()
    return f"{year:04d}-W{week:02d}"


@strawberry.type(name="WorkReportRow", description="One group; fields outside the report's groupBy are null")
class WorkReportRow:
    agent: str | None
    day: date | None
    week: str | None = strawberry.field(description='ISO week, "2026-W09"')
    week_start: date | None = strawberry.field(description="The Monday of the week")
    month: str | None = strawberry.field(description='"YYYY-MM"')
    billable_minutes: int
    non_billable_minutes: int
    entries: int
    group: strawberry.Private[r.WorkGroup]
    tenant_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_group(cls, group: r.WorkGroup, tenant_id: uuid.UUID) -> WorkReportRow:
        # The counts are the group's figures, read as WorkFigures reads them; the group's keys are named.
        return mapped(
            cls,
            group.figures,
            agent=group.agent,
            day=group.day,
            week=iso_week(group.week) if group.week else None,
            week_start=group.week,
            month=periods.month_label(group.month) if group.month else None,
            group=group,
            tenant_id=tenant_id,
        )

    @fields.field(description="Set when grouped by INCIDENT")
    async def incident(self, info: Info) -> Incident | None:
        if self.group.incident_id is None:
            return None
        return await incident_by_id(info, self.group.incident_id)

    @fields.field(description="Set when grouped by SERVICE and the incident has one")
    async def service(self, info: Info) -> Service | None:
        if self.group.service_id is None:
            return None
        return await service_by_key(info.context, self.tenant_id, self.group.service_id)


@strawberry.type(
    name="WorkReport",
    description="Work entries by the local day the work was done, from..to included, tenant's timezone",
)
class WorkReport:
    from_: date = strawberry.field(name="from")
    to: date
    group_by: list[WorkReportGrouping]
    total: WorkFigures
    rows: list[WorkReportRow] = strawberry.field(
        description="One per group, ordered by the groupings; the total alone when nothing is grouped"
    )
    report: strawberry.Private[r.WorkReport]

    @classmethod
    def from_report(cls, report: r.WorkReport) -> WorkReport:
        tenant_id = report.query.tenant_id
        return cls(
            from_=report.query.start,
            to=report.query.end,
            group_by=list(report.query.group_by),
            total=WorkFigures.from_figures(report.total),
            rows=[WorkReportRow.from_group(group, tenant_id) for group in report.rows],
            report=report,
        )

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant:
        return await tenant_by_id(info.context, self.report.query.tenant_id)
