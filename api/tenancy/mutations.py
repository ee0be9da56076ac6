"""Tenancy mutations, for platform operators."""

from __future__ import annotations

import strawberry

from api import fields
from api.context import Info
from api.errors import UserError, attempt
from api.permissions import IsAuthenticated
from api.tenancy.resolve import find_tenant_id
from api.tenancy.types import Membership, Role, Tenant
from domain.errors import forbidden, not_found
from domain.tenancy import models as m
from domain.tenancy import service


@strawberry.input(name="CreateTenantInput")
class CreateTenantInput:
    slug: str
    name: str
    timezone: str
    public_status_page: bool | None = False
    auto_close_days: int | None = 3


@strawberry.input(name="AddMemberInput")
class AddMemberInput:
    tenant: strawberry.ID
    issuer: str | None = None
    subject: str
    role: Role


@strawberry.type(name="TenantPayload")
class TenantPayload:
    tenant: Tenant | None
    user_errors: list[UserError]


@strawberry.type(name="MembershipPayload")
class MembershipPayload:
    membership: Membership | None
    user_errors: list[UserError]


@strawberry.type
class TenancyMutations:
    @fields.mutation(permission_classes=[IsAuthenticated], description="Platform operators only")
    async def create_tenant(self, info: Info, input: CreateTenantInput) -> TenantPayload:
        ctx = info.context

        async def run() -> m.Tenant:
            return await service.create_tenant(
                ctx.db,
                ctx.actor(),
                slug=input.slug,
                name=input.name,
                timezone=input.timezone,
                public_status_page=bool(input.public_status_page),
                auto_close_days=3 if input.auto_close_days is None else input.auto_close_days,
            )

        row, errors = await attempt(run)
        return TenantPayload(tenant=Tenant.from_row(row) if row else None, user_errors=errors)

    @fields.mutation(permission_classes=[IsAuthenticated], description="Platform operators only")
    async def add_member(self, info: Info, input: AddMemberInput) -> MembershipPayload:
        ctx = info.context
        tenant_row: list[m.Tenant] = []

        async def run() -> m.Membership:
            if not ctx.actor().is_operator:
                raise forbidden("only platform operators manage memberships")
            tenant_id = await find_tenant_id(ctx, input.tenant)
            if tenant_id is None:
                raise not_found("tenant", "input", "tenant")
            issuer = input.issuer or ctx.settings.public_url
            membership = await service.add_member(
                ctx.db,
                ctx.actor(),
                tenant_id=tenant_id,
                issuer=issuer,
                subject=input.subject,
                role=input.role,
            )
            async with ctx.db.transaction(ctx.scope) as session:
                tenant = await session.get(m.Tenant, tenant_id)
            assert tenant is not None
            tenant_row.append(tenant)
            return membership

        row, errors = await attempt(run)
        membership = Membership(tenant=Tenant.from_row(tenant_row[0]), role=row.role) if row else None
        return MembershipPayload(membership=membership, user_errors=errors)
