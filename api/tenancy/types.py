"""GraphQL types of tenancy: tenants, memberships, the viewer, and ``InTenant``, the base of every type
whose row belongs to a tenant. The bottom of the type modules' tree (``api.refs``): a tenant's services
and SLA contract are links upward."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import strawberry

from api import fields
from api.context import Context, Info
from api.mapping import mapped
from api.refs import NotificationPreferencesRef, ServiceConnectionRef, SlaContractRef
from api.relay import Connection, Node, encode_id
from domain.tenancy import models as m
from domain.tenancy.roles import Role as RoleEnum
from domain.tenancy.service import tenants_by_id

# strawberry.enum marks the class in place and returns it: the GraphQL enum is the domain's class itself,
# and the name below is a plain alias of it, which annotations can use as a type.
strawberry.enum(RoleEnum, name="Role")
Role = RoleEnum


@strawberry.type(name="Tenant")
class Tenant(Node):
    slug: str
    name: str
    timezone: str
    public_status_page: bool
    auto_close_days: int = strawberry.field(
        description="Days a RESOLVED incident waits for the customer's confirmation before closing by itself"
    )
    row: strawberry.Private[m.Tenant]

    @classmethod
    def from_row(cls, row: m.Tenant) -> Tenant:
        return mapped(cls, row, id=encode_id("Tenant", row.id), row=row)

    @strawberry.field
    async def services(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> ServiceConnectionRef:
        # Imported here: the catalogue's types import this module (a service is InTenant).
        from api.catalog.queries import service_connection

        return await service_connection(info.context, {self.row.id}, first, after)

    @fields.field(description="The SLA contract in force now, if any")
    async def sla_contract(self, info: Info) -> SlaContractRef | None:
        # Imported here: the SLA types import this module (a contract is InTenant).
        from api.sla.queries import tenant_contract

        return await tenant_contract(info.context, self.row.id)


@strawberry.type
class InTenant:
    """Base of every type whose row belongs to a tenant: its ``tenant`` field, through the request's loader.
    (Not a GraphQL type of its own: its field is copied into each type that inherits it.)"""

    row: strawberry.Private[Any]

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant:
        return await tenant_by_id(info.context, self.row.tenant_id)


@strawberry.type(name="Membership")
class Membership:
    tenant: Tenant
    role: Role


@strawberry.type(name="TenantConnection")
class TenantConnection(Connection[Tenant]):
    pass


@strawberry.type(name="Viewer")
class Viewer:
    subject: str
    issuer: str
    is_operator: bool
    scopes: list[str]
    memberships: list[Membership]

    @fields.field(
        description="The caller's mail address and notification choices in each of their tenants, or the one named"
    )
    async def notification_preferences(
        self, info: Info, tenant: strawberry.ID | None = None
    ) -> list[NotificationPreferencesRef]:
        # Imported here: the notices' types import this module (preferences belong to a tenant).
        from api.notices.queries import viewer_preferences

        return await viewer_preferences(info.context, tenant)


async def load_tenants(ctx: Context, ids: Sequence[uuid.UUID]) -> list[m.Tenant | None]:
    """Tenants by id. The tenants table is a reference table: the caller decides what may be shown."""
    async with ctx.read() as session:
        return await tenants_by_id(session, ids)


async def tenant_by_id(ctx: Context, tenant_id: uuid.UUID) -> Tenant:
    row = await ctx.loader(load_tenants).load(tenant_id)
    if row is None:  # pragma: no cover - every row's tenant exists (foreign key)
        raise LookupError(tenant_id)
    return Tenant.from_row(row)
