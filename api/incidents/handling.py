"""Mutations that work an incident to its end: hold, resume, workaround, escalation, resolution, reopening,
closure, cancellation, rating and the task checklist (the work log is billing's: api/billing)."""

from __future__ import annotations

from typing import Any

import strawberry

from api import fields
from api.context import Info
from api.incidents.mutations import (
    IncidentMutation,
    IncidentPayload,
    IncidentRefInput,
    Step,
    incident_payload,
    step_mutations,
)
from api.incidents.types import HoldReason, ResolutionCode
from api.mutation import Mutation
from api.permissions import IsAuthenticated
from domain.incidents import handling

AUTH = [IsAuthenticated]


@strawberry.input(name="PutOnHoldInput")
class PutOnHoldInput(IncidentRefInput):
    reason: HoldReason
    note: str | None = None


@strawberry.input(name="WorkaroundInput")
class WorkaroundInput(IncidentRefInput):
    workaround: str


@strawberry.input(name="EscalateInput")
class EscalateInput(IncidentRefInput):
    assignment_group: str | None = None
    vendor: str | None = None
    vendor_ticket: str | None = None
    hierarchical: bool | None = False
    note: str


@strawberry.input(name="ResolveInput")
class ResolveInput(IncidentRefInput):
    code: ResolutionCode
    notes: str
    cascade_to_children: bool | None = True


@strawberry.input(name="ReopenInput")
class ReopenInput:
    id: strawberry.ID
    reason: str


@strawberry.input(name="CancelInput")
class CancelInput(IncidentRefInput):
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


def _escalation(run: IncidentMutation, input: EscalateInput) -> dict[str, Any]:
    escalation = handling.Escalation(
        note=input.note,
        assignment_group=input.assignment_group,
        vendor=input.vendor,
        vendor_ticket=input.vendor_ticket,
        hierarchical=bool(input.hierarchical),
    )
    return {"expected_version": input.expected_version, "escalation": escalation}


HandlingMutations = step_mutations(
    "HandlingMutations",
    [
        Step(handling.put_incident_on_hold, PutOnHoldInput, "IN_PROGRESS -> ON_HOLD, with a reason (AGENT)"),
        Step(handling.resume_incident, IncidentRefInput, "ON_HOLD -> IN_PROGRESS (AGENT)"),
        Step(handling.apply_workaround, WorkaroundInput, "AGENT"),
        Step(
            handling.escalate_incident,
            EscalateInput,
            "Functional (a group, or a vendor with its ticket) and/or hierarchical escalation (AGENT)",
            _escalation,
        ),
        Step(
            handling.resolve_incident,
            ResolveInput,
            "-> RESOLVED; cascades to open children unless told not to (AGENT)",
        ),
        Step(handling.reopen_incident, ReopenInput, "RESOLVED -> IN_PROGRESS (reporter or staff)"),
        Step(handling.close_incident, IncidentRefInput, "RESOLVED -> CLOSED (customer confirms, or staff)"),
        Step(handling.cancel_incident, CancelInput, "-> CANCELLED (reporter or staff)"),
        Step(handling.rate_incident, RateInput, "The reporter, once, after RESOLVED; score 1..5"),
    ],
)


@strawberry.type
class TaskMutations:
    @fields.mutation(permission_classes=[IsAuthenticated], description="AGENT")
    async def set_task(self, info: Info, input: SetTaskInput) -> IncidentPayload:
        run = Mutation(info)
        task_id = run.node_id(input.task_id, "IncidentTask", "task_id")
        return incident_payload(*await run(handling.set_task, task_id=task_id, done=input.done))
