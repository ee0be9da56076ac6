"""Incident mutations: decode the input, call one domain use case, answer a payload with userErrors."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from api import fields
from api.context import Info
from api.errors import UserError, attempt
from api.incidents.types import Impact, Incident, IncidentEvent, Priority, Urgency, Visibility
from api.permissions import IsAuthenticated
from api.relay import decode_id
from api.tenancy.resolve import resolve_tenant
from domain.errors import not_found
from domain.incidents import service
from domain.incidents.enums import Visibility as VisibilityValue
from domain.incidents.models import Incident as IncidentRow
from domain.incidents.models import IncidentEvent as EventRow


def incident_id(value: str, *field: str) -> uuid.UUID:
    """The incident inside a global ID; anything else is NOT_FOUND, like an incident of another tenant."""
    decoded = decode_id(value, "Incident")
    if decoded is None:
        raise not_found("incident", *field)
    return decoded


def optional_id(value: str | None, type_name: str, *field: str) -> uuid.UUID | None:
    if value is None:
        return None
    decoded = decode_id(value, type_name)
    if decoded is None:
        raise not_found(type_name.lower(), *field)
    return decoded


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
        ctx = info.context

        async def run() -> IncidentRow:
            new = service.NewIncident(
                tenant_id=await resolve_tenant(ctx, input.tenant, "input", "tenant"),
                title=input.title,
                description=input.description,
                service_id=optional_id(input.service_id, "Service", "input", "serviceId"),
                impact=input.impact,
                urgency=input.urgency,
                category=input.category,
                detected_at=input.detected_at,
            )
            return await service.report_incident(ctx.db, ctx.actor(), new)

        return incident_payload(*await attempt(run))

    @fields.mutation(permission_classes=[IsAuthenticated], description="AGENT")
    async def classify_incident(self, info: Info, input: ClassifyIncidentInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            change = service.Classification(
                category=input.category,
                impact=input.impact,
                urgency=input.urgency,
                service_id=optional_id(input.service_id, "Service", "input", "serviceId"),
                priority_override=input.priority_override,
                override_reason=input.override_reason,
            )
            target = incident_id(input.id, "input", "id")
            return await service.classify_incident(
                ctx.db,
                ctx.actor(),
                incident_id=target,
                expected_version=input.expected_version,
                change=change,
            )

        return incident_payload(*await attempt(run))

    @fields.mutation(permission_classes=[IsAuthenticated])
    async def assign_incident(self, info: Info, input: AssignIncidentInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            target = incident_id(input.id, "input", "id")
            return await service.assign_incident(
                ctx.db,
                ctx.actor(),
                incident_id=target,
                expected_version=input.expected_version,
                assignee=input.assignee,
                assignment_group=input.assignment_group,
            )

        return incident_payload(*await attempt(run))

    @fields.mutation(
        permission_classes=[IsAuthenticated], description="NEW -> IN_PROGRESS; stops the response clock"
    )
    async def acknowledge_incident(self, info: Info, input: IncidentRefInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            target = incident_id(input.id, "input", "id")
            return await service.acknowledge_incident(
                ctx.db, ctx.actor(), incident_id=target, expected_version=input.expected_version
            )

        return incident_payload(*await attempt(run))

    @fields.mutation(permission_classes=[IsAuthenticated], description="CUSTOMER may only add PUBLIC")
    async def add_comment(self, info: Info, input: CommentInput) -> CommentPayload:
        ctx = info.context

        async def run() -> EventRow:
            target = incident_id(input.id, "input", "id")
            visibility = input.visibility or VisibilityValue.PUBLIC
            return await service.add_comment(
                ctx.db, ctx.actor(), incident_id=target, body=input.body, visibility=visibility
            )

        event, errors = await attempt(run)
        return CommentPayload(
            event=IncidentEvent.from_row(event) if event is not None else None, user_errors=errors
        )
