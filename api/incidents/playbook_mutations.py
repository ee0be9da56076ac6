"""The mutations of incident models (playbooks): creating one (MANAGER) and applying one by hand (AGENT).

Apart from the type (``api.incidents.playbooks``) because applying a model answers with the incident:
these mutations stand above the incident's types, the model's type below them.
"""

from __future__ import annotations

import strawberry

from api import fields
from api.context import Info
from api.errors import UserError
from api.incidents.enums import Impact, Urgency
from api.incidents.mutations import IncidentMutation, IncidentPayload, incident_payload
from api.incidents.playbooks import IncidentModel
from api.mutation import Mutation
from api.permissions import IsAuthenticated
from domain.incidents import playbooks


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
        run = Mutation(info)
        spec = playbooks.ModelSpec(
            tenant_id=await run.tenant_id(input.tenant, "tenant"),
            name=input.name,
            description=input.description,
            match_category=input.match_category,
            match_service_id=run.optional_node_id(input.match_service_id, "Service", "match_service_id"),
            match_keywords=tuple(input.match_keywords or ()),
            category=input.category,
            impact=input.impact,
            urgency=input.urgency,
            assignment_group=input.assignment_group,
            workaround=input.workaround,
            tasks=tuple(input.tasks or ()),
        )
        row, errors = await run(playbooks.create_incident_model, spec)
        return IncidentModelPayload(model=IncidentModel.from_row(row) if row else None, user_errors=errors)

    @fields.mutation(
        permission_classes=[IsAuthenticated],
        description="Apply a model by hand (AGENT): classification, group, tasks, and its workaround if none",
    )
    async def apply_incident_model(self, info: Info, input: ApplyModelInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        model_id = run.node_id(input.model_id, "IncidentModel", "model_id")
        applied = await run(playbooks.apply_incident_model, incident_id=run.incident_id, model_id=model_id)
        return incident_payload(*applied)
