"""The mutations of incident models (playbooks): creating one (MANAGER) and applying one by hand (AGENT).

Apart from the type (``api.incidents.playbooks``) because applying a model answers with the incident:
these mutations stand above the incident's types, the model's type below them.
"""

from __future__ import annotations

import strawberry

from api import fields
from api.context import Info
from api.errors import UserError, attempt
from api.incidents.enums import Impact, Urgency
from api.incidents.mutations import IncidentPayload, incident_id, incident_payload, optional_id
from api.incidents.playbooks import IncidentModel
from api.permissions import IsAuthenticated
from api.relay import decode_id
from api.tenancy.resolve import resolve_tenant
from domain.errors import not_found
from domain.incidents import models as m
from domain.incidents import playbooks
from domain.incidents import records as r


@strawberry.input(name="IncidentModelInput")
class IncidentModelInput:
    tenant: strawberry.ID | None = None
    name: str
    description: str | None = None
    match_category: str | None = None
    match_service_id: strawberry.ID | None = None
    match_keywords: list[str] | None = None
    category: str | None = None
    impact: Impact | None = None
    urgency: Urgency | None = None
    assignment_group: str | None = None
    workaround: str | None = None
    tasks: list[str] | None = None


@strawberry.type(name="IncidentModelPayload")
class IncidentModelPayload:
    model: IncidentModel | None
    user_errors: list[UserError]


@strawberry.input(name="ApplyModelInput")
class ApplyModelInput:
    id: strawberry.ID
    model_id: strawberry.ID


@strawberry.type
class PlaybookMutations:
    @fields.mutation(permission_classes=[IsAuthenticated], description="MANAGER")
    async def create_incident_model(self, info: Info, input: IncidentModelInput) -> IncidentModelPayload:
        ctx = info.context

        async def run() -> r.IncidentModel:
            spec = playbooks.ModelSpec(
                tenant_id=await resolve_tenant(ctx, input.tenant, "input", "tenant"),
                name=input.name,
                description=input.description,
                match_category=input.match_category,
                match_service_id=optional_id(input.match_service_id, "Service", "input", "matchServiceId"),
                match_keywords=tuple(input.match_keywords or ()),
                category=input.category,
                impact=input.impact,
                urgency=input.urgency,
                assignment_group=input.assignment_group,
                workaround=input.workaround,
                tasks=tuple(input.tasks or ()),
            )
            return await playbooks.create_incident_model(ctx.db, ctx.actor(), spec)

        row, errors = await attempt(run)
        return IncidentModelPayload(model=IncidentModel.from_row(row) if row else None, user_errors=errors)

    @fields.mutation(
        permission_classes=[IsAuthenticated],
        description="Apply a model by hand (AGENT): classification, group, tasks, and its workaround if none",
    )
    async def apply_incident_model(self, info: Info, input: ApplyModelInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> m.Incident:
            target = incident_id(input.id, "input", "id")
            model = decode_id(input.model_id, "IncidentModel")
            if model is None:
                raise not_found("incident model", "input", "modelId")
            return await playbooks.apply_incident_model(
                ctx.db, ctx.actor(), incident_id=target, model_id=model
            )

        return incident_payload(*await attempt(run))
