"""Catalogue mutations (MANAGER)."""

from __future__ import annotations

import strawberry

from api import fields
from api.catalog.types import Service
from api.context import Info
from api.errors import UserError, attempt
from api.permissions import IsAuthenticated
from api.tenancy.resolve import resolve_tenant
from domain.catalog import models as m
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
        ctx = info.context

        async def run() -> m.Service:
            tenant_id = await resolve_tenant(ctx, input.tenant, "input", "tenant")
            return await service.create_service(
                ctx.db, ctx.actor(), tenant_id=tenant_id, name=input.name, description=input.description
            )

        row, errors = await attempt(run)
        return ServicePayload(service=Service.from_row(row) if row else None, user_errors=errors)
