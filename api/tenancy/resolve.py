"""Turning a ``tenant`` argument (a global ID or a slug) into a tenant id the caller may use."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from api.context import Context
from api.relay import parse_id
from domain.errors import invalid, not_found
from domain.tenancy import models as m
from domain.tenancy.service import is_slug


async def find_tenant_id(ctx: Context, value: str) -> uuid.UUID | None:
    """The tenant named by a global ID or slug, if it exists (whoever may see it)."""
    parsed = parse_id(value)
    if parsed is not None:
        return parsed[1] if parsed[0] == "Tenant" else None
    if not is_slug(value.lower()):
        return None
    async with ctx.read() as session:
        found: uuid.UUID | None = await session.scalar(
            select(m.Tenant.id).where(m.Tenant.slug == value.lower())
        )
    return found


async def resolve_tenant(ctx: Context, value: str | None, *field: str) -> uuid.UUID:
    """The caller's tenant named by ``value``, or the caller's only tenant when omitted.

    A tenant outside the caller's scope answers NOT_FOUND, exactly like one that does not exist.
    """
    if value is None:
        if len(ctx.tenant_ids) == 1:
            return next(iter(ctx.tenant_ids))
        raise invalid("name the tenant: you belong to several", *field)
    tenant_id = await find_tenant_id(ctx, value)
    if tenant_id is None or tenant_id not in ctx.tenant_ids:
        raise not_found("tenant", *field)
    return tenant_id
