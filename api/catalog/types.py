"""GraphQL types of the service catalogue."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import strawberry

from api import fields
from api.bulletins.loaders import load_service_statuses
from api.context import Context, Info
from api.mapping import mapped
from api.relay import Connection, Node, encode_id
from api.tenancy.types import InTenant
from domain.bulletins.phases import ServiceStatus as ServiceStatusValue
from domain.catalog import models as m
from domain.catalog.service import ServiceKey, services_by_key

# strawberry.enum marks the class in place and returns it: the GraphQL enum is the domain's class itself,
# and the name below is a plain alias of it, which annotations can use as a type.
strawberry.enum(ServiceStatusValue, name="ServiceStatus")
ServiceStatus = ServiceStatusValue


@strawberry.type(name="Service")
class Service(Node, InTenant):
    name: str
    slug: str = strawberry.field(
        description="Made from the name, unique in the tenant: how a status page embed names the service"
    )
    description: str | None
    row: strawberry.Private[m.Service]
    # Set when the status is already known (the public status page), else loaded on demand.
    known_status: strawberry.Private[ServiceStatusValue | None] = None

    @classmethod
    def from_row(cls, row: m.Service, known_status: ServiceStatusValue | None = None) -> Service:
        return mapped(cls, row, id=encode_id("Service", row.id), row=row, known_status=known_status)

    @fields.field(description="Worst status declared by the tenant's active bulletins")
    async def status(self, info: Info) -> ServiceStatus:
        if self.known_status is not None:
            return self.known_status
        return await info.context.loader(load_service_statuses).load((self.row.tenant_id, self.row.id))


@strawberry.type(name="ServiceConnection")
class ServiceConnection(Connection[Service]):
    pass


async def load_services(ctx: Context, keys: Sequence[ServiceKey]) -> list[m.Service | None]:
    async with ctx.read() as session:
        return await services_by_key(session, keys)


async def service_by_key(ctx: Context, tenant_id: uuid.UUID, service_id: uuid.UUID | None) -> Service | None:
    """A tenant's service through the request's loader; None when absent or outside the caller's scope."""
    if service_id is None:
        return None
    row = await ctx.loader(load_services).load((tenant_id, service_id))
    return Service.from_row(row) if row is not None else None
