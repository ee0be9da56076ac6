"""Tenancy mutations, for platform operators."""

from __future__ import annotations

import strawberry

from api import fields
from api.context import Info
from api.errors import UserError
from api.mutation import Mutation
from api.permissions import IsAuthenticated
from api.tenancy.types import Membership, Role, Tenant
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
    email: str | None = strawberry.field(
        default=None, description="Where the member's notifications go; they choose which ones themselves"
    )


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
        row, errors = await Mutation(info)(
            service.create_tenant,
            slug=input.slug,
            name=input.name,
            timezone=input.timezone,
            public_status_page=bool(input.public_status_page),
            auto_close_days=3 if input.auto_close_days is None else input.auto_close_days,
        )
        return TenantPayload(tenant=Tenant.from_row(row) if row else None, user_errors=errors)

    @fields.mutation(permission_classes=[IsAuthenticated], description="Platform operators only")
    async def add_member(self, info: Info, input: AddMemberInput) -> MembershipPayload:
        run = Mutation(info)
        grant, errors = await run(
            service.add_member,
            tenant_id=await run.any_tenant_id(input.tenant, "tenant"),
            issuer=input.issuer or info.context.settings.public_url,
            subject=input.subject,
            role=input.role,
            email=input.email,
        )
        membership = (
            None
            if grant is None
            else Membership(tenant=Tenant.from_row(grant.tenant), role=grant.membership.role)
        )
        return MembershipPayload(membership=membership, user_errors=errors)
