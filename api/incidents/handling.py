"""Mutations that work an incident to its end: hold, resume, workaround, escalation, resolution, reopening,
closure, cancellation, rating and the task checklist (the work log is billing's: api/billing)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from api import fields
from api.context import Info
from api.errors import attempt
from api.incidents.mutations import IncidentPayload, IncidentRefInput, incident_id, incident_payload
from api.incidents.types import HoldReason, ResolutionCode
from api.permissions import IsAuthenticated
from api.relay import decode_id
from domain.errors import not_found
from domain.incidents import handling
from domain.incidents.models import Incident as IncidentRow

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


async def _answer(run: Callable[[], Awaitable[IncidentRow]]) -> IncidentPayload:
    return incident_payload(*await attempt(run))


@strawberry.type
class HandlingMutations:
    @fields.mutation(permission_classes=AUTH, description="IN_PROGRESS -> ON_HOLD, with a reason (AGENT)")
    async def put_incident_on_hold(self, info: Info, input: PutOnHoldInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            target = incident_id(input.id, "input", "id")
            return await handling.put_incident_on_hold(
                ctx.db,
                ctx.actor(),
                incident_id=target,
                expected_version=input.expected_version,
                reason=input.reason,
                note=input.note,
            )

        return await _answer(run)

    @fields.mutation(permission_classes=AUTH, description="ON_HOLD -> IN_PROGRESS (AGENT)")
    async def resume_incident(self, info: Info, input: IncidentRefInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            target = incident_id(input.id, "input", "id")
            return await handling.resume_incident(
                ctx.db, ctx.actor(), incident_id=target, expected_version=input.expected_version
            )

        return await _answer(run)

    @fields.mutation(permission_classes=AUTH, description="AGENT")
    async def apply_workaround(self, info: Info, input: WorkaroundInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            target = incident_id(input.id, "input", "id")
            return await handling.apply_workaround(
                ctx.db,
                ctx.actor(),
                incident_id=target,
                expected_version=input.expected_version,
                workaround=input.workaround,
            )

        return await _answer(run)

    @fields.mutation(
        permission_classes=AUTH,
        description="Functional (a group, or a vendor with its ticket) and/or hierarchical escalation (AGENT)",
    )
    async def escalate_incident(self, info: Info, input: EscalateInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            target = incident_id(input.id, "input", "id")
            escalation = handling.Escalation(
                note=input.note,
                assignment_group=input.assignment_group,
                vendor=input.vendor,
                vendor_ticket=input.vendor_ticket,
                hierarchical=bool(input.hierarchical),
            )
            return await handling.escalate_incident(
                ctx.db,
                ctx.actor(),
                incident_id=target,
                expected_version=input.expected_version,
                escalation=escalation,
            )

        return await _answer(run)

    @fields.mutation(
        permission_classes=AUTH,
        description="-> RESOLVED; cascades to open children unless told not to (AGENT)",
    )
    async def resolve_incident(self, info: Info, input: ResolveInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            target = incident_id(input.id, "input", "id")
            cascade = True if input.cascade_to_children is None else input.cascade_to_children
            return await handling.resolve_incident(
                ctx.db,
                ctx.actor(),
                incident_id=target,
                expected_version=input.expected_version,
                code=input.code,
                notes=input.notes,
                cascade_to_children=cascade,
            )

        return await _answer(run)

    @fields.mutation(permission_classes=AUTH, description="RESOLVED -> IN_PROGRESS (reporter or staff)")
    async def reopen_incident(self, info: Info, input: ReopenInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            target = incident_id(input.id, "input", "id")
            return await handling.reopen_incident(
                ctx.db, ctx.actor(), incident_id=target, reason=input.reason
            )

        return await _answer(run)

    @fields.mutation(permission_classes=AUTH, description="RESOLVED -> CLOSED (customer confirms, or staff)")
    async def close_incident(self, info: Info, input: IncidentRefInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            target = incident_id(input.id, "input", "id")
            return await handling.close_incident(
                ctx.db, ctx.actor(), incident_id=target, expected_version=input.expected_version
            )

        return await _answer(run)

    @fields.mutation(permission_classes=AUTH, description="-> CANCELLED (reporter or staff)")
    async def cancel_incident(self, info: Info, input: CancelInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            target = incident_id(input.id, "input", "id")
            return await handling.cancel_incident(
                ctx.db,
                ctx.actor(),
                incident_id=target,
                expected_version=input.expected_version,
                reason=input.reason,
            )

        return await _answer(run)

    @fields.mutation(permission_classes=AUTH, description="The reporter, once, after RESOLVED; score 1..5")
    async def rate_incident(self, info: Info, input: RateInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            target = incident_id(input.id, "input", "id")
            return await handling.rate_incident(
                ctx.db, ctx.actor(), incident_id=target, score=input.score, comment=input.comment
            )

        return await _answer(run)

    @fields.mutation(permission_classes=AUTH, description="AGENT")
    async def set_task(self, info: Info, input: SetTaskInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            task = decode_id(input.task_id, "IncidentTask")
            if task is None:
                raise not_found("task", "input", "taskId")
            return await handling.set_task(ctx.db, ctx.actor(), task_id=task, done=input.done)

        return await _answer(run)
