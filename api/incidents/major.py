"""Major incidents: the declaration and its Incident Commander, the swarm, and a provider's outage fanned
out to the customer tenants it affects."""

from __future__ import annotations

import uuid

import strawberry

from api import fields
from api.context import Info
from api.errors import attempt
from api.incidents.mutations import IncidentPayload, IncidentsPayload, incident_id, incident_payload
from api.incidents.types import Incident, ResponderRole
from api.permissions import IsAuthenticated
from api.tenancy.resolve import find_tenant_id
from domain.errors import ErrorCode, Refused, not_found
from domain.incidents import major
from domain.incidents.models import Incident as IncidentRow
from domain.incidents.unit import MAX_BATCH

AUTH = [IsAuthenticated]


@strawberry.input(name="DeclareMajorInput")
class DeclareMajorInput:
    id: strawberry.ID
    expected_version: int | None = None
    commander: str


@strawberry.input(name="AddResponderInput")
class AddResponderInput:
    id: strawberry.ID
    subject: str
    role: ResponderRole


@strawberry.input(name="AffectTenantsInput")
class AffectTenantsInput:
    id: strawberry.ID
    tenants: list[strawberry.ID]
    public_title: str
    public_description: str


@strawberry.type
class MajorMutations:
    @fields.mutation(permission_classes=AUTH, description="MANAGER; names the Incident Commander")
    async def declare_major_incident(self, info: Info, input: DeclareMajorInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            target = incident_id(input.id, "input", "id")
            return await major.declare_major_incident(
                ctx.db,
                ctx.actor(),
                incident_id=target,
                expected_version=input.expected_version,
                commander=input.commander,
            )

        return incident_payload(*await attempt(run))

    @fields.mutation(
        permission_classes=AUTH, description="A member of the tenant's staff joins the swarm (AGENT)"
    )
    async def add_responder(self, info: Info, input: AddResponderInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            target = incident_id(input.id, "input", "id")
            return await major.add_responder(
                ctx.db, ctx.actor(), incident_id=target, subject=input.subject, role=input.role
            )

        return incident_payload(*await attempt(run))

    @fields.mutation(
        permission_classes=AUTH,
        description=(
            "Child incidents in other tenants, linked to this one (AGENT in every tenant named). The parent's"
            " PUBLIC comments, status and resolution flow to them. Answers the children, in the order given."
        ),
    )
    async def affect_tenants(self, info: Info, input: AffectTenantsInput) -> IncidentsPayload:
        ctx = info.context

        async def run() -> list[IncidentRow]:
            target = incident_id(input.id, "input", "id")
            if len(input.tenants) > MAX_BATCH:
                raise Refused.one(
                    ErrorCode.LIMIT_EXCEEDED, f"at most {MAX_BATCH} tenants per call", "input", "tenants"
                )
            tenants: list[uuid.UUID] = []
            for index, value in enumerate(input.tenants):
                found = await find_tenant_id(ctx, value)
                if found is None:
                    raise not_found("tenant", "input", "tenants", str(index))
                tenants.append(found)
            return await major.affect_tenants(
                ctx.db,
                ctx.actor(),
                incident_id=target,
                tenant_ids=tenants,
                public_title=input.public_title,
                public_description=input.public_description,
            )

        rows, errors = await attempt(run)
        return IncidentsPayload(incidents=[Incident.from_row(r) for r in rows or []], user_errors=errors)
