"""Incident mutations: decode the input, call one domain use case, answer a payload with userErrors."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api import fields
from api.context import Info
from api.errors import UserError
from api.incidents.types import Impact, Incident, IncidentEvent, Priority, Urgency, Visibility
from api.mutation import Mutation
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


@strawberry.input(name="ClassifyIncidentInput")
class ClassifyIncidentInput:
    id: strawberry.ID
    expected_version: int | None = None
    category: str | None = None
    impact: Impact | None = None
    urgency: Urgency | None = None
    service_id: strawberry.ID | None = None
    priority_override: Priority | None = None
    override_reason: str | None = None


@strawberry.input(name="AssignIncidentInput")
class AssignIncidentInput:
    id: strawberry.ID
    expected_version: int | None = None
    assignee: str | None = None
    assignment_group: str | None = None


@strawberry.input(name="IncidentRefInput")
class IncidentRefInput:
    id: strawberry.ID
    expected_version: int | None = None


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

    @fields.mutation(permission_classes=[IsAuthenticated])
    async def assign_incident(self, info: Info, input: AssignIncidentInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        return incident_payload(
            *await run(
                service.assign_incident,
                incident_id=run.incident_id,
                expected_version=input.expected_version,
                assignee=input.assignee,
                assignment_group=input.assignment_group,
            )
        )

    @fields.mutation(
        permission_classes=[IsAuthenticated], description="NEW -> IN_PROGRESS; stops the response clock"
    )
    async def acknowledge_incident(self, info: Info, input: IncidentRefInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        return incident_payload(
            *await run(
                service.acknowledge_incident,
                incident_id=run.incident_id,
                expected_version=input.expected_version,
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
