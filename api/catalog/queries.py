"""Reading the catalogue."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select

from api.catalog.types import Service, ServiceConnection
from api.context import Context
from api.relay import PageRequest, SortKey, read_page
from domain.catalog import models as m

BY_NAME = SortKey((m.Service.name, m.Service.id))


async def service_connection(
    ctx: Context, tenant_ids: Iterable[uuid.UUID], first: int | None, after: str | None
) -> ServiceConnection:
    wanted = set(tenant_ids) & ctx.tenant_ids
    statement = select(m.Service).where(m.Service.tenant_id.in_(wanted))

    page = await read_page(ctx.read, statement, BY_NAME, PageRequest(first=first, after=after))
    return ServiceConnection.of_page(page, Service.from_row)
