"""GraphQL types of SLA contracts, clocks and reports: thin classes over the domain's rows and readings.

``from_row``/``from_reading``/``from_report`` name the fields that differ from their source's
(``api.mapping`` copies the others); the tenant of a contract or report resolves through the request's
loader.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.context import Info
from api.incidents.enums import HoldReason, Priority
from api.mapping import mapped
from api.relay import Node, encode_id
from api.tenancy.types import InTenant, Tenant, tenant_by_id
from domain.incidents.enums import HoldReason as HoldReasonValue
from domain.sla import models as m
from domain.sla import report as r
from domain.sla.clock import ClockReading, ClockState
from domain.sla.store import format_wall_time, intervals_of, targets_of

# strawberry.enum marks the class in place and returns it: the GraphQL enum is the domain's class itself,
# and the name below is a plain alias of it, which annotations can use as a type.
strawberry.enum(ClockState, name="SlaClockState")
SlaClockState = ClockState


@strawberry.type(name="SlaClock", description="One SLA clock of an incident, read at the time of the request")
class SlaClock:
    target_minutes: int
    elapsed_minutes: int = strawberry.field(description="Business minutes counted so far, pauses excluded")
    remaining_minutes: int = strawberry.field(description="Negative once breached")
    due_at: datetime | None = strawberry.field(description="Projected; null while paused or stopped")
    state: SlaClockState
    at_risk: bool = strawberry.field(description="Elapsed >= atRiskPercent of target, not yet stopped")
    breached: bool
    priority: Priority = strawberry.field(
        description="The priority whose target applies (the incident's current one)"
    )
    at_risk_at: datetime | None = strawberry.field(
        description="When the at-risk threshold was (or, while running, will be) reached"
    )
    breached_at: datetime | None = strawberry.field(
        description="When the target was (or, while running, will be) passed"
    )
    stopped: bool
    cancelled: bool = strawberry.field(
        description="Stopped by a cancellation: counts as neither met nor breached"
    )

    @classmethod
    def from_reading(cls, reading: ClockReading) -> SlaClock:
        return mapped(cls, reading)


@strawberry.type(name="SlaTarget")
class SlaTarget:
    priority: Priority
    response_minutes: int
    resolution_minutes: int


@strawberry.type(
    name="BusinessHours", description='ISO weekday 1..7; "HH:MM" local time, end "24:00" = midnight'
)
class BusinessHours:
    weekday: int
    start: str
    end: str


@strawberry.type(name="SlaContract")
class SlaContract(Node, InTenant):
    name: str
    targets: list[SlaTarget]
    timezone: str
    business_hours: list[BusinessHours] = strawberry.field(description="Empty means 24x7")
    holidays: list[str] = strawberry.field(description="ISO dates, local to timezone")
    pause_on: list[HoldReason] = strawberry.field(description="Hold reasons that stop the clock")
    at_risk_percent: int
    effective_from: datetime
    effective_to: datetime | None
    row: strawberry.Private[m.SlaContract]

    @classmethod
    def from_row(cls, row: m.SlaContract) -> SlaContract:
        targets = targets_of(row)
        return mapped(
            cls,
            row,
            id=encode_id("SlaContract", row.id),
            targets=[
                mapped(SlaTarget, target, priority=priority) for priority, target in sorted(targets.items())
            ],
            business_hours=[
                mapped(
                    BusinessHours,
                    interval,
                    start=format_wall_time(interval.start),
                    end=format_wall_time(interval.end, end=True),
                )
                for interval in intervals_of(row)
            ],
            holidays=[day.isoformat() for day in sorted(row.holidays or ())],
            pause_on=sorted(HoldReasonValue(reason) for reason in row.pause_on or ()),
            row=row,
        )


@strawberry.type(name="SlaPriorityReport")
class SlaPriorityReport:
    priority: Priority
    incidents: int
    response_met: int
    resolution_met: int
    breached: int = strawberry.field(description="Incidents either of whose clocks breached")
    mean_time_to_respond_minutes: float | None = strawberry.field(description="Business minutes")
    mean_time_to_resolve_minutes: float | None = strawberry.field(description="Business minutes")
    response_compliance_percent: float | None
    resolution_compliance_percent: float | None


@strawberry.type(
    name="SlaReport",
    description="Incidents reported in [from, to), cancelled ones excluded; times in business minutes",
)
class SlaReport:
    from_: datetime = strawberry.field(name="from")
    to: datetime
    incidents: int
    response_compliance_percent: float | None
    resolution_compliance_percent: float | None
    mean_time_to_respond_minutes: float | None
    mean_time_to_resolve_minutes: float | None
    average_satisfaction: float | None
    by_priority: list[SlaPriorityReport]
    report: strawberry.Private[r.SlaReport]

    @classmethod
    def from_report(cls, report: r.SlaReport) -> SlaReport:
        return mapped(
            cls,
            report,
            from_=report.start,
            to=report.end,
            by_priority=[mapped(SlaPriorityReport, figures) for figures in report.by_priority],
            report=report,
        )

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant:
        return await tenant_by_id(info.context, self.report.tenant_id)
