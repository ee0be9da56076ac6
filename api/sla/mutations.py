"""SLA mutations: decode the input, call the domain use case, answer a payload with userErrors."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api import fields
from api.context import Info
from api.errors import UserError
from api.incidents.types import HoldReason, Priority
from api.mutation import Mutation
from api.permissions import IsAuthenticated
from api.sla.types import SlaContract
from domain.sla import service

DEFAULT_AT_RISK_PERCENT = 75


@strawberry.input(name="SlaTargetInput")
class SlaTargetInput:
    priority: Priority
    response_minutes: int
    resolution_minutes: int


@strawberry.input(name="BusinessHoursInput", description='ISO weekday 1..7; "HH:MM" local time, end "24:00"')
class BusinessHoursInput:
    weekday: int
    start: str
    end: str


@strawberry.input(name="SlaContractInput")
class SlaContractInput:
    tenant: strawberry.ID | None = None
    name: str
    targets: list[SlaTargetInput]
    timezone: str
    business_hours: list[BusinessHoursInput] | None = strawberry.field(
        default=None, description="Empty or absent means 24x7; several intervals a day are allowed"
    )
    holidays: list[str] | None = strawberry.field(default=None, description='"YYYY-MM-DD", local dates')
    pause_on: list[HoldReason] | None = None
    at_risk_percent: int | None = DEFAULT_AT_RISK_PERCENT
    effective_from: datetime
    effective_to: datetime | None = None


@strawberry.type(name="SlaContractPayload")
class SlaContractPayload:
    contract: SlaContract | None
    user_errors: list[UserError]


@strawberry.type
class SlaMutations:
    @fields.mutation(
        permission_classes=[IsAuthenticated],
        description="MANAGER with sla:write; effective windows of one tenant never overlap",
    )
    async def create_sla_contract(self, info: Info, input: SlaContractInput) -> SlaContractPayload:
        run = Mutation(info)
        new = service.NewContract(
            tenant_id=await run.tenant_id(input.tenant, "tenant"),
            name=input.name,
            targets=[
                service.TargetInput(t.priority, t.response_minutes, t.resolution_minutes)
                for t in input.targets
            ],
            timezone=input.timezone,
            business_hours=[
                service.HoursInput(h.weekday, h.start, h.end) for h in input.business_hours or ()
            ],
            holidays=list(input.holidays or ()),
            pause_on=list(input.pause_on or ()),
            at_risk_percent=DEFAULT_AT_RISK_PERCENT
            if input.at_risk_percent is None
            else input.at_risk_percent,
            effective_from=input.effective_from,
            effective_to=input.effective_to,
        )
        row, errors = await run(service.create_contract, new)
        return SlaContractPayload(
            contract=SlaContract.from_row(row) if row is not None else None, user_errors=errors
        )
