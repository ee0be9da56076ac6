"""GraphQL types of the service catalogue."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import select, tuple_

from api.context import Context, Info
from api.relay import Counted, Node, PageInfo, encode_id
from domain.catalog import models as m

if TYPE_CHECKING:
    from api.tenancy.types import Tenant


@strawberry.type(name="Service")
class Service(Node):
    name: str
    description: str | None
    row: strawberry.Private[m.Service]

    @classmethod
    def from_row(cls, row: m.Service) -> Service:
        return cls(id=encode_id("Service", row.id), name=row.name, description=row.description, row=row)

    @strawberry.field
    async def tenant(self, info: Info) -> Annotated[Tenant, strawberry.lazy("api.tenancy.types")]:
        from api.tenancy.types import tenant_by_id

        return await tenant_by_id(info.context, self.row.tenant_id)


@strawberry.type(name="ServiceEdge")
class ServiceEdge:
    cursor: str
    node: Service


@strawberry.type(name="ServiceConnection")
class ServiceConnection(Counted):
    edges: list[ServiceEdge]
    page_info: PageInfo


ServiceKey = tuple[uuid.UUID, uuid.UUID]


async def load_services(ctx: Context, keys: Sequence[ServiceKey]) -> list[m.Service | None]:
    async with ctx.read() as session:
        rows = (
            await session.scalars(
                select(m.Service).where(tuple_(m.Service.tenant_id, m.Service.id).in_(keys))
            )
        ).all()
    found = {(r.tenant_id, r.id): r for r in rows}
    return [found.get(k) for k in keys]
