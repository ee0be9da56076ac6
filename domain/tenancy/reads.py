"""Reading tenancy: the tenants listing."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select

from domain.reads.pages import Keyset, Paged
from domain.tenancy.models import Tenant

BY_SLUG = Keyset((Tenant.slug, Tenant.id))


def tenant_listing(*, tenant_ids: Collection[uuid.UUID] | None) -> Paged[Tenant]:
    """The tenants of ``tenant_ids`` by slug; every tenant for None (a platform operator's listing).

    The tenants table is a reference table: row-level security does not narrow it, the caller does."""
    statement = select(Tenant)
    if tenant_ids is not None:
        statement = statement.where(Tenant.id.in_(tenant_ids))
    return Paged(statement, BY_SLUG)
