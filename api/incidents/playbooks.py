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
from api.errors import UserError, attempt
from api.incidents.enums import Impact, Urgency
from api.incidents.mutations import IncidentPayload, incident_id, incident_payload, optional_id
from api.mapping import mapped
from api.permissions import IsAuthenticated
from api.relay import Node, decode_id, encode_id
from api.tenancy.resolve import find_tenant_id, resolve_tenant
from api.tenancy.types import InTenant
from domain.errors import not_found
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
        return mapped(
            cls,
            row,
            id=encode_id("IncidentModel", row.id),
            match_keywords=list(row.match_keywords),
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
