"""Incident models (playbooks): the type, its query, and the mutations that create and apply them.

Models are the staff's internal playbooks: CUSTOMER members see none, and ``Incident.model`` is null for
them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import strawberry

from api import fields
from api.context import Context, Info
from api.errors import UserError
from api.incidents.mutations import IncidentMutation, IncidentPayload, incident_payload
from api.incidents.types import Impact, Urgency
from api.mutation import Mutation
from api.permissions import IsAuthenticated
from api.relay import Node, encode_id
from api.tenancy.resolve import find_tenant_id
from api.tenancy.types import InTenant
from domain.incidents import models as m
from domain.incidents import playbooks, reads
from domain.incidents import records as r
from domain.visibility import Part

if TYPE_CHECKING:
    from api.catalog.types import Service

ModelKey = tuple[uuid.UUID, uuid.UUID]  # (tenant_id, id)


@strawberry.type(name="IncidentModel")
class IncidentModel(Node, InTenant):
    name: str
    description: str | None
    match_category: str | None
    match_keywords: list[str]
    category: str | None
    impact: Impact | None
    urgency: Urgency | None
    assignment_group: str | None
    workaround: str | None
    tasks: list[str]
    row: strawberry.Private[r.IncidentModel]

    @classmethod
    def from_row(cls, row: r.IncidentModel) -> IncidentModel:
        return cls(
            id=encode_id("IncidentModel", row.id),
            name=row.name,
            description=row.description,
            match_category=row.match_category,
            match_keywords=list(row.match_keywords),
            category=row.category,
            impact=row.impact,
            urgency=row.urgency,
            assignment_group=row.assignment_group,
            workaround=row.workaround,
            tasks=list(row.tasks),
            row=row,
        )

    @strawberry.field
    async def match_service(
        self, info: Info
    ) -> Annotated[Service, strawberry.lazy("api.catalog.types")] | None:
        from api.catalog.types import service_by_key

        return await service_by_key(info.context, self.row.tenant_id, self.row.match_service_id)


def staff_in(ctx: Context, tenant_id: uuid.UUID) -> bool:
    return ctx.principal is not None and ctx.sees(tenant_id, Part.MODEL)


async def load_models(ctx: Context, keys: Sequence[ModelKey]) -> list[r.IncidentModel | None]:
    async with ctx.read() as session:
        return await reads.models_by_key(session, keys)


async def model_of(ctx: Context, incident: m.Incident) -> IncidentModel | None:
    """``Incident.model``: the model applied last, for staff only."""
    if incident.model_id is None or not staff_in(ctx, incident.tenant_id):
        return None
    row = await ctx.loader(load_models).load((incident.tenant_id, incident.model_id))
    return IncidentModel.from_row(row) if row is not None else None


async def model_node(ctx: Context, key: uuid.UUID) -> IncidentModel | None:
    async with ctx.read() as session:
        row = await reads.model_by_id(session, key)
    if row is None or not staff_in(ctx, row.tenant_id):
        return None
    return IncidentModel.from_row(row)


async def incident_models(ctx: Context, tenant: str | None) -> list[IncidentModel]:
    """The models of the caller's tenants where the caller is staff, optionally of one tenant."""
    tenants = ctx.tenant_ids
    if tenant is not None:
        chosen = await find_tenant_id(ctx, tenant)
        tenants = tenants & {chosen} if chosen else frozenset()
    rows = await playbooks.incident_models(ctx.db, ctx.actor(), tenants)
    return [IncidentModel.from_row(row) for row in rows]


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
