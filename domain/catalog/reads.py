"""Reading the catalogue: the services listing and the services of one tenant by name."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog.models import Service
from domain.reads.pages import Keyset, Paged

BY_NAME = Keyset((Service.name, Service.id))


def service_listing(*, tenant_ids: Collection[uuid.UUID]) -> Paged[Service]:
    """The services of ``tenant_ids``, by name."""
    return Paged(select(Service).where(Service.tenant_id.in_(tenant_ids)), BY_NAME)


async def service_ids_by_name(session: AsyncSession, *, tenant_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """The tenant's services: each one's id by its name (names are unique within a tenant)."""
    rows = await session.execute(select(Service.name, Service.id).where(Service.tenant_id == tenant_id))
    return {name: service_id for name, service_id in rows}
