"""Billing mutations: log, correct and withdraw work entries; close a month of a tenant's books."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from api import fields
from api.billing.types import BillingPeriod, WorkLogEntry
from api.context import Info
from api.errors import UserError, attempt
from api.incidents.mutations import IncidentPayload, incident_id, incident_payload
from api.incidents.types import Incident
from api.permissions import IsAuthenticated
from api.relay import decode_id
from api.tenancy.resolve import resolve_tenant
from domain.billing import periods, worklog
from domain.errors import not_found
from domain.incidents import models as m

AUTH = [IsAuthenticated]


@strawberry.input(name="LogWorkInput")
class LogWorkInput:
    id: strawberry.ID
    minutes: int
    note: str | None = None
    billable: bool | None = strawberry.field(default=True, description="Billable unless false")
    worked_at: datetime | None = strawberry.field(
        default=None,
        description="When the work was done: default now, never in the future nor before the report",
    )


@strawberry.input(
    name="CorrectWorkInput", description="Fields left out stay as they are; an empty note clears it"
)
class CorrectWorkInput:
    entry_id: strawberry.ID
    minutes: int | None = None
    billable: bool | None = None
    note: str | None = None
    worked_at: datetime | None = None


@strawberry.input(name="WithdrawWorkInput")
class WithdrawWorkInput:
    entry_id: strawberry.ID
    reason: str | None = None


@strawberry.input(name="CloseBillingPeriodInput")
class CloseBillingPeriodInput:
    tenant: strawberry.ID | None = None
    month: str = strawberry.field(description='"YYYY-MM", a month that has ended in the tenant\'s timezone')


@strawberry.type(name="WorkEntryPayload")
class WorkEntryPayload:
    entry: WorkLogEntry | None = strawberry.field(description="Null once withdrawn")
    incident: Incident | None
    user_errors: list[UserError]


@strawberry.type(name="BillingPeriodPayload")
class BillingPeriodPayload:
    billing_period: BillingPeriod | None
    user_errors: list[UserError]


def _entry_id(value: strawberry.ID) -> uuid.UUID:
    found = decode_id(value, "WorkLogEntry")
    if found is None:
        raise not_found("work entry", "input", "entryId")
    return found


@strawberry.type
class BillingMutations:
    @fields.mutation(permission_classes=AUTH, description="AGENT; minutes 1..1440, billable by default")
    async def log_work(self, info: Info, input: LogWorkInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> m.Incident:
            return await worklog.log_work(
                ctx.db,
                ctx.actor(),
                incident_id=incident_id(input.id, "input", "id"),
                minutes=input.minutes,
                note=input.note,
                billable=input.billable is not False,
                worked_at=input.worked_at,
            )

        return incident_payload(*await attempt(run))

    @fields.mutation(
        permission_classes=AUTH, description="Its author or a MANAGER, while the entry's month is open"
    )
    async def correct_work(self, info: Info, input: CorrectWorkInput) -> WorkEntryPayload:
        ctx = info.context

        async def run() -> tuple[m.WorkLogEntry, m.Incident]:
            correction = worklog.Correction(
                minutes=input.minutes, billable=input.billable, note=input.note, worked_at=input.worked_at
            )
            return await worklog.correct_work(
                ctx.db, ctx.actor(), entry_id=_entry_id(input.entry_id), correction=correction
            )

        done, errors = await attempt(run)
        if done is None:
            return WorkEntryPayload(entry=None, incident=None, user_errors=errors)
        entry, incident = done
        return WorkEntryPayload(
            entry=WorkLogEntry.from_row(entry), incident=Incident.from_row(incident), user_errors=[]
        )

    @fields.mutation(
        permission_classes=AUTH, description="Its author or a MANAGER, while the entry's month is open"
    )
    async def withdraw_work(self, info: Info, input: WithdrawWorkInput) -> WorkEntryPayload:
        ctx = info.context

        async def run() -> m.Incident:
            return await worklog.withdraw_work(
                ctx.db, ctx.actor(), entry_id=_entry_id(input.entry_id), reason=input.reason
            )

        incident, errors = await attempt(run)
        return WorkEntryPayload(
            entry=None, incident=Incident.from_row(incident) if incident else None, user_errors=errors
        )

    @fields.mutation(
        permission_classes=AUTH,
        description="MANAGER with the manage scope; freezes the month's work entries for good",
    )
    async def close_billing_period(self, info: Info, input: CloseBillingPeriodInput) -> BillingPeriodPayload:
        ctx = info.context

        async def run() -> periods.ClosedMonth:
            tenant_id = await resolve_tenant(ctx, input.tenant, "input", "tenant")
            return await periods.close_billing_period(
                ctx.db, ctx.actor(), tenant_id=tenant_id, month=input.month
            )

        closed, errors = await attempt(run)
        return BillingPeriodPayload(
            billing_period=BillingPeriod.from_row(closed) if closed else None, user_errors=errors
        )
