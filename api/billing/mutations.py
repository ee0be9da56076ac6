"""Billing mutations: log, correct and withdraw work entries; close a month of a tenant's books."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api import fields
from api.billing.types import BillingPeriod, WorkLogEntry
from api.context import Info
from api.errors import UserError
from api.incidents.mutations import Step, step_mutations
from api.incidents.types import Incident
from api.mutation import Mutation
from api.permissions import IsAuthenticated
from domain.billing import periods, worklog

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


class WorkEntryMutation(Mutation):
    """A mutation of one work entry, named ``entryId`` in its input."""

    def __init__(self, info: Info, entry_id: str) -> None:
        super().__init__(info)
        self.entry_id = self.node_id(entry_id, "WorkLogEntry", "entry_id", what="work entry")


WorkLogSteps = step_mutations(
    "WorkLogSteps", [Step(worklog.log_work, LogWorkInput, "AGENT; minutes 1..1440, billable by default")]
)


@strawberry.type
class BillingMutations:
    @fields.mutation(
        permission_classes=AUTH, description="Its author or a MANAGER, while the entry's month is open"
    )
    async def correct_work(self, info: Info, input: CorrectWorkInput) -> WorkEntryPayload:
        run = WorkEntryMutation(info, input.entry_id)
        correction = worklog.Correction(
            minutes=input.minutes, billable=input.billable, note=input.note, worked_at=input.worked_at
        )
        done, errors = await run(worklog.correct_work, entry_id=run.entry_id, correction=correction)
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
        run = WorkEntryMutation(info, input.entry_id)
        incident, errors = await run(worklog.withdraw_work, entry_id=run.entry_id, reason=input.reason)
        return WorkEntryPayload(
            entry=None, incident=Incident.from_row(incident) if incident else None, user_errors=errors
        )

    @fields.mutation(
        permission_classes=AUTH,
        description="MANAGER with the manage scope; freezes the month's work entries for good",
    )
    async def close_billing_period(self, info: Info, input: CloseBillingPeriodInput) -> BillingPeriodPayload:
        run = Mutation(info)
        tenant_id = await run.tenant_id(input.tenant, "tenant")
        closed, errors = await run(periods.close_billing_period, tenant_id=tenant_id, month=input.month)
        return BillingPeriodPayload(
            billing_period=BillingPeriod.from_row(closed) if closed else None, user_errors=errors
        )
