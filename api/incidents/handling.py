"""Mutations that work an incident to its end: hold, resume, workaround, escalation, resolution, reopening,
closure, cancellation, rating and the task checklist (the work log is billing's: api/billing)."""

from __future__ import annotations

import strawberry

from api import fields
from api.context import Info
from api.incidents.mutations import IncidentMutation, IncidentPayload, IncidentRefInput, incident_payload
from api.incidents.types import HoldReason, ResolutionCode
from api.mutation import Mutation
from api.permissions import IsAuthenticated
from domain.incidents import handling

AUTH = [IsAuthenticated]


@strawberry.input(name="PutOnHoldInput")
class PutOnHoldInput:
    id: strawberry.ID
    expected_version: int | None = None
    reason: HoldReason
    note: str | None = None


@strawberry.input(name="WorkaroundInput")
class WorkaroundInput:
    id: strawberry.ID
    expected_version: int | None = None
    workaround: str


@strawberry.input(name="EscalateInput")
class EscalateInput:
    id: strawberry.ID
    expected_version: int | None = None
    assignment_group: str | None = None
    vendor: str | None = None
    vendor_ticket: str | None = None
    hierarchical: bool | None = False
    note: str


@strawberry.input(name="ResolveInput")
class ResolveInput:
    id: strawberry.ID
    expected_version: int | None = None
    code: ResolutionCode
    notes: str
    cascade_to_children: bool | None = True


@strawberry.input(name="ReopenInput")
class ReopenInput:
    id: strawberry.ID
    reason: str


@strawberry.input(name="CancelInput")
class CancelInput:
    id: strawberry.ID
    expected_version: int | None = None
    reason: str


@strawberry.input(name="RateInput")
class RateInput:
    id: strawberry.ID
    score: int
    comment: str | None = None


@strawberry.input(name="SetTaskInput")
class SetTaskInput:
    task_id: strawberry.ID
    done: bool


@strawberry.type
class HandlingMutations:
    @fields.mutation(permission_classes=AUTH, description="IN_PROGRESS -> ON_HOLD, with a reason (AGENT)")
    async def put_incident_on_hold(self, info: Info, input: PutOnHoldInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        return incident_payload(
            *await run(
                handling.put_incident_on_hold,
                incident_id=run.incident_id,
                expected_version=input.expected_version,
                reason=input.reason,
                note=input.note,
            )
        )

    @fields.mutation(permission_classes=AUTH, description="ON_HOLD -> IN_PROGRESS (AGENT)")
    async def resume_incident(self, info: Info, input: IncidentRefInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        resumed = await run(
            handling.resume_incident, incident_id=run.incident_id, expected_version=input.expected_version
        )
        return incident_payload(*resumed)

    @fields.mutation(permission_classes=AUTH, description="AGENT")
    async def apply_workaround(self, info: Info, input: WorkaroundInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        return incident_payload(
            *await run(
                handling.apply_workaround,
                incident_id=run.incident_id,
                expected_version=input.expected_version,
                workaround=input.workaround,
            )
        )

    @fields.mutation(
        permission_classes=AUTH,
        description="Functional (a group, or a vendor with its ticket) and/or hierarchical escalation (AGENT)",
    )
    async def escalate_incident(self, info: Info, input: EscalateInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        escalation = handling.Escalation(
            note=input.note,
            assignment_group=input.assignment_group,
            vendor=input.vendor,
            vendor_ticket=input.vendor_ticket,
            hierarchical=bool(input.hierarchical),
        )
        return incident_payload(
            *await run(
                handling.escalate_incident,
                incident_id=run.incident_id,
                expected_version=input.expected_version,
                escalation=escalation,
            )
        )

    @fields.mutation(
        permission_classes=AUTH,
        description="-> RESOLVED; cascades to open children unless told not to (AGENT)",
    )
    async def resolve_incident(self, info: Info, input: ResolveInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        return incident_payload(
            *await run(
                handling.resolve_incident,
                incident_id=run.incident_id,
                expected_version=input.expected_version,
                code=input.code,
                notes=input.notes,
                cascade_to_children=input.cascade_to_children is not False,
            )
        )

    @fields.mutation(permission_classes=AUTH, description="RESOLVED -> IN_PROGRESS (reporter or staff)")
    async def reopen_incident(self, info: Info, input: ReopenInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        reopened = await run(handling.reopen_incident, incident_id=run.incident_id, reason=input.reason)
        return incident_payload(*reopened)

    @fields.mutation(permission_classes=AUTH, description="RESOLVED -> CLOSED (customer confirms, or staff)")
    async def close_incident(self, info: Info, input: IncidentRefInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        closed = await run(
            handling.close_incident, incident_id=run.incident_id, expected_version=input.expected_version
        )
        return incident_payload(*closed)

    @fields.mutation(permission_classes=AUTH, description="-> CANCELLED (reporter or staff)")
    async def cancel_incident(self, info: Info, input: CancelInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        return incident_payload(
            *await run(
                handling.cancel_incident,
                incident_id=run.incident_id,
                expected_version=input.expected_version,
                reason=input.reason,
            )
        )

    @fields.mutation(permission_classes=AUTH, description="The reporter, once, after RESOLVED; score 1..5")
    async def rate_incident(self, info: Info, input: RateInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        rated = await run(
            handling.rate_incident, incident_id=run.incident_id, score=input.score, comment=input.comment
        )
        return incident_payload(*rated)

    @fields.mutation(permission_classes=AUTH, description="AGENT")
    async def set_task(self, info: Info, input: SetTaskInput) -> IncidentPayload:
        run = Mutation(info)
        task_id = run.node_id(input.task_id, "IncidentTask", "task_id")
        return incident_payload(*await run(handling.set_task, task_id=task_id, done=input.done))
