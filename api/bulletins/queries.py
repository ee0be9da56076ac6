"""Reading bulletins and the public status."""

from __future__ import annotations

import uuid

from api.bulletins.loaders import load_bulletins
from api.bulletins.types import (
    Bulletin,
    BulletinConnection,
    PublicStatus,
    bulletin_readers,
    may_see,
)
from api.context import Context
from api.relay import PageRequest, read_page
from api.tenancy.resolve import find_tenant_id
from domain.bulletins.public import public_status as read_public_status
from domain.bulletins.reads import bulletin_listing


async def bulletin_connection(
    ctx: Context, tenant: str | None, active_only: bool, first: int | None, after: str | None
) -> BulletinConnection:
    tenants = bulletin_readers(ctx)
    if tenant is not None:
        chosen = await find_tenant_id(ctx, tenant)
        tenants = tenants & {chosen} if chosen else frozenset()
    listing = bulletin_listing(
        tenant_ids=tenants,
        # Where the caller has internal sight (staff); a CUSTOMER member is listed published bulletins only.
        staff_tenant_ids=[t for t in tenants if ctx.sees_internal(t)],
        active_only=active_only,
    )
    page = await read_page(ctx.read, listing, PageRequest(first=first, after=after))
    return BulletinConnection.of_page(page, Bulletin.from_row)


async def public_status(ctx: Context, slug: str) -> PublicStatus | None:
    view = await read_public_status(ctx.db, slug)
    return PublicStatus.from_view(view) if view is not None else None


async def bulletin_node(ctx: Context, key: uuid.UUID) -> Bulletin | None:
    row = await ctx.loader(load_bulletins).load(key)
    if row is None or not may_see(ctx, row.tenant_id, row.published):
        return None
    return Bulletin.from_row(row)
