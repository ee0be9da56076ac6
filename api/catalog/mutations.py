"""Catalogue mutations (MANAGER)."""

from __future__ import annotations

import strawberry

from api import fields
from api.catalog.types import Service
from api.context import Info
from api.errors import UserError
from api.mutation import Mutation
from api.permissions import IsAuthenticated
from domain.catalog import service


@strawberry.input(name="CreateServiceInput")
class CreateServiceInput:
    tenant: strawberry.ID | None = None
    name: str
    description: str | None = None


@strawberry.type(name="ServicePayload")
class ServicePayload:
    service: Service | None
    user_errors: list[UserError]


@strawberry.type
class CatalogMutations:
    @fields.mutation(permission_classes=[IsAuthenticated], description="MANAGER")
    async def create_service(self, info: Info, input: CreateServiceInput) -> ServicePayload:
        run = Mutation(info)
        tenant_id = await run.tenant_id(input.tenant, "tenant")
        row, errors = await run(
            service.create_service, tenant_id=tenant_id, name=input.name, description=input.description
        )
        return ServicePayload(service=Service.from_row(row) if row else None, user_errors=errors)
