"""Reading the catalogue."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from api.catalog.types import Service, ServiceConnection
from api.context import Context
from api.relay import PageRequest, read_page
from domain.catalog.reads import service_listing


async def service_connection(
    ctx: Context, tenant_ids: Iterable[uuid.UUID], first: int | None, after: str | None
) -> ServiceConnection:
    listing = service_listing(tenant_ids=set(tenant_ids) & ctx.tenant_ids)
    page = await read_page(ctx.read, listing, PageRequest(first=first, after=after))
    return ServiceConnection.of_page(page, Service.from_row)
