"""Incident models (playbooks): the type, its loaders and its query.

Models are the staff's internal playbooks: CUSTOMER members see none, and ``Incident.model`` is null for
them. The mutations that create and apply them are ``api.incidents.playbook_mutations``: they answer with
an incident, so they stand above the incident's types, which this module stands below.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import strawberry

from api.catalog.types import Service, service_by_key
from api.context import Context, Info
from api.incidents.enums import Impact, Urgency
from api.mapping import mapped
from api.relay import Node, encode_id
from api.tenancy.resolve import find_tenant_id
from api.tenancy.types import InTenant
from domain.incidents import models as m
from domain.incidents import playbooks, reads
from domain.visibility import Part

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
    row: strawberry.Private[m.IncidentModel]

    @classmethod
    def from_row(cls, row: m.IncidentModel) -> IncidentModel:
        return mapped(
            cls,
            row,
            id=encode_id("IncidentModel", row.id),
            match_keywords=list(row.match_keywords),
            tasks=list(row.tasks),
            row=row,
        )

    @strawberry.field
    async def match_service(self, info: Info) -> Service | None:
        return await service_by_key(info.context, self.row.tenant_id, self.row.match_service_id)


def staff_in(ctx: Context, tenant_id: uuid.UUID) -> bool:
    return ctx.principal is not None and ctx.sees(tenant_id, Part.MODEL)


async def load_models(ctx: Context, keys: Sequence[ModelKey]) -> list[m.IncidentModel | None]:
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
