"""Reading tenancy: the viewer and the caller's tenants."""

from __future__ import annotations

from api.context import Context
from api.relay import PageRequest, read_page
from api.tenancy.types import Membership, Tenant, TenantConnection, Viewer, tenant_by_id
from domain.tenancy.reads import tenant_listing


async def viewer(ctx: Context) -> Viewer:
    principal = ctx.actor()
    memberships = [
        Membership(tenant=await tenant_by_id(ctx, tenant_id), role=role)
        for tenant_id, role in sorted(principal.memberships.items(), key=lambda item: str(item[0]))
    ]
    return Viewer(
        subject=principal.subject,
        issuer=principal.issuer,
        is_operator=principal.is_operator,
        scopes=sorted(principal.scopes),
        memberships=memberships,
    )


async def tenant_connection(ctx: Context, first: int | None, after: str | None) -> TenantConnection:
    """The caller's tenants; every tenant for a platform operator."""
    principal = ctx.actor()
    listing = tenant_listing(tenant_ids=None if principal.is_operator else ctx.tenant_ids)
    page = await read_page(ctx.read, listing, PageRequest(first=first, after=after))
    return TenantConnection.of_page(page, Tenant.from_row)
