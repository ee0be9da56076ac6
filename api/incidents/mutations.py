"""Incident mutations: decode the input, call one domain use case, answer a payload with userErrors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types.field import StrawberryField

from api import fields
from api.context import Info
from api.errors import UserError
from api.incidents.types import Impact, Incident, IncidentEvent, Priority, Urgency, Visibility
from api.mutation import Mutation, arguments_of
from api.permissions import IsAuthenticated
from domain.incidents import service
from domain.incidents.enums import Visibility as VisibilityValue
from domain.incidents.models import Incident as IncidentRow


class IncidentMutation(Mutation):
    """A mutation of one incident, named ``id`` in its input (the use case's ``incident_id``)."""

    def __init__(self, info: Info, id: str, **names: str) -> None:
        super().__init__(info, names={"incident_id": "id", **names})
        self.incident_id = self.node_id(id, "Incident", "incident_id")


@strawberry.input(name="ReportIncidentInput")
class ReportIncidentInput:
    tenant: strawberry.ID | None = None
    title: str
    description: str
    service_id: strawberry.ID | None = None
    impact: Impact | None = None
    urgency: Urgency | None = None
    category: str | None = None
    detected_at: datetime | None = None


@strawberry.input(name="IncidentRefInput")
class IncidentRefInput:
    """An incident, and the version the caller last saw (a stale one is a CONFLICT)."""

    id: strawberry.ID
    expected_version: int | None = None


@strawberry.input(name="ClassifyIncidentInput")
class ClassifyIncidentInput(IncidentRefInput):
    category: str | None = None
    impact: Impact | None = None
    urgency: Urgency | None = None
    service_id: strawberry.ID | None = None
    priority_override: Priority | None = None
    override_reason: str | None = None


@strawberry.input(name="AssignIncidentInput")
class AssignIncidentInput(IncidentRefInput):
    assignee: str | None = None
    assignment_group: str | None = None


@strawberry.input(name="CommentInput")
class CommentInput:
    id: strawberry.ID
    body: str
    visibility: Visibility | None = VisibilityValue.PUBLIC


@strawberry.type(name="IncidentPayload")
class IncidentPayload:
    incident: Incident | None
    user_errors: list[UserError]


@strawberry.type(name="IncidentsPayload")
class IncidentsPayload:
    incidents: list[Incident]
    user_errors: list[UserError]


@strawberry.type(name="CommentPayload")
class CommentPayload:
    event: IncidentEvent | None
    user_errors: list[UserError]


def incident_payload(row: IncidentRow | None, errors: list[UserError]) -> IncidentPayload:
    return IncidentPayload(incident=Incident.from_row(row) if row is not None else None, user_errors=errors)


@dataclass(frozen=True)
class Step:
    """A mutation that takes one step of an incident's work and answers the incident. Its input is the
    incident's ``id`` and, by the same names, the use case's other keyword arguments (``arguments``
    builds them instead where the input must be decoded first). The GraphQL field is named after the use
    case: ``put_incident_on_hold`` is ``putIncidentOnHold``."""

    use_case: Callable[..., Awaitable[IncidentRow]]
    input: type
    description: str | None = None
    arguments: Callable[[IncidentMutation, Any], dict[str, Any]] | None = None


def step_mutations(name: str, steps: Sequence[Step]) -> type:
    """A strawberry type with one mutation per step, in the order given."""
    return strawberry.type(type(name, (), {step.use_case.__name__: _step_field(step) for step in steps}))


def _step_field(step: Step) -> StrawberryField:
    async def take_step(info: Info, input: Any) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        arguments = step.arguments(run, input) if step.arguments else arguments_of(input, skip=("id",))
        return incident_payload(*await run(step.use_case, incident_id=run.incident_id, **arguments))

    # The input's GraphQL type is the step's: strawberry reads it from the annotation.
    take_step.__annotations__ = {"info": Info, "input": step.input, "return": IncidentPayload}
    return fields.mutation(permission_classes=[IsAuthenticated], description=step.description)(take_step)


@strawberry.type
class IncidentMutations:
    @fields.mutation(permission_classes=[IsAuthenticated], description="CUSTOMER, AGENT")
    async def report_incident(self, info: Info, input: ReportIncidentInput) -> IncidentPayload:
        run = Mutation(info)
        new = service.NewIncident(
            tenant_id=await run.tenant_id(input.tenant, "tenant"),
            title=input.title,
            description=input.description,
            service_id=run.optional_node_id(input.service_id, "Service", "service_id"),
            impact=input.impact,
            urgency=input.urgency,
            category=input.category,
            detected_at=input.detected_at,
        )
        return incident_payload(*await run(service.report_incident, new))

    @fields.mutation(permission_classes=[IsAuthenticated], description="AGENT")
    async def classify_incident(self, info: Info, input: ClassifyIncidentInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        change = service.Classification(
            category=input.category,
            impact=input.impact,
            urgency=input.urgency,
            service_id=run.optional_node_id(input.service_id, "Service", "service_id"),
            priority_override=input.priority_override,
            override_reason=input.override_reason,
        )
        return incident_payload(
            *await run(
                service.classify_incident,
                incident_id=run.incident_id,
                expected_version=input.expected_version,
                change=change,
            )
        )

    @fields.mutation(permission_classes=[IsAuthenticated], description="CUSTOMER may only add PUBLIC")
    async def add_comment(self, info: Info, input: CommentInput) -> CommentPayload:
        run = IncidentMutation(info, input.id)
        event, errors = await run(
            service.add_comment,
            incident_id=run.incident_id,
            body=input.body,
            visibility=input.visibility or VisibilityValue.PUBLIC,
        )
        return CommentPayload(
            event=IncidentEvent.from_row(event) if event is not None else None, user_errors=errors
        )


IncidentSteps = step_mutations(
    "IncidentSteps",
    [
        Step(service.assign_incident, AssignIncidentInput),
        Step(service.acknowledge_incident, IncidentRefInput, "NEW -> IN_PROGRESS; stops the response clock"),
    ],
)
