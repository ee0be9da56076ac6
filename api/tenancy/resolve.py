"""Turning a ``tenant`` argument (a global ID or a slug) into a tenant id the caller may use."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from api.context import Context
from api.errors import refused_as_error
from api.relay import parse_id
from domain.errors import Refused, invalid, not_found

T = TypeVar("T")


async def find_tenant_id(ctx: Context, value: str) -> uuid.UUID | None:
    """The tenant named by a global ID or slug, if it exists (whoever may see it)."""
    parsed = parse_id(value)
    if parsed is not None:
        return parsed[1] if parsed[0] == "Tenant" else None
    return await ctx.tenant_id_of(value)


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


async def tenant_report(
    ctx: Context, tenant: str | None, read: Callable[[uuid.UUID], Awaitable[T]]
) -> tuple[uuid.UUID, T]:
    """A report of one tenant (the one named, or the caller's only one) and that tenant: ``read`` is given
    its id. Refusals are top-level errors, since a report itself is not nullable."""
    try:
        tenant_id = await resolve_tenant(ctx, tenant, "tenant")
        return tenant_id, await read(tenant_id)
    except Refused as refused:
        raise refused_as_error(refused) from None
