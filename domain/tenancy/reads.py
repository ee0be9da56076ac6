"""Reading tenancy: the tenants listing and whether someone is a member of a tenant."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.reads.pages import Keyset, Paged
from domain.tenancy.models import Membership, Tenant

BY_SLUG = Keyset((Tenant.slug, Tenant.id))


def tenant_listing(*, tenant_ids: Collection[uuid.UUID] | None) -> Paged[Tenant]:
    """The tenants of ``tenant_ids`` by slug; every tenant for None (a platform operator's listing).

    The tenants table is a reference table: row-level security does not narrow it, the caller does."""
    statement = select(Tenant)
    if tenant_ids is not None:
        statement = statement.where(Tenant.id.in_(tenant_ids))
    return Paged(statement, BY_SLUG)


async def is_member(session: AsyncSession, *, tenant_id: uuid.UUID, issuer: str, subject: str) -> bool:
    """Whether (issuer, subject) holds a role in the tenant."""
    found = await session.scalar(
        select(Membership.id).where(
            Membership.tenant_id == tenant_id,
            Membership.issuer == issuer,
            Membership.subject == subject,
        )
    )
    return found is not None
