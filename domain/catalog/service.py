"""Catalogue use cases: the services a tenant's incidents are raised against."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.batches import one_each
from domain.catalog.models import Service
from domain.catalog.slugs import candidates
from domain.columns import utcnow
from domain.db import Database, Scope, use_case
from domain.errors import invalid
from domain.tenancy.actor import Actor, require_role
from domain.tenancy.roles import Role
from domain.tenancy.roles import Scope as OAuthScope


@use_case
async def create_service(
    db: Database, actor: Actor, *, tenant_id: uuid.UUID, name: str, description: str | None
) -> Service:
    require_role(actor, tenant_id, Role.MANAGER, OAuthScope.MANAGE, what="creating a service")
    name = name.strip()
    if not name or len(name) > 200:
        raise invalid("must be 1 to 200 characters", "name")
    if description is not None and len(description) > 5000:
        raise invalid("must be at most 5000 characters", "description")
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        taken = set(
            await session.scalars(
                select(Service.slug).where(Service.tenant_id == tenant_id, Service.slug.in_(candidates(name)))
            )
        )
        slug = next((s for s in candidates(name) if s not in taken), None)
        if slug is None:
            raise invalid("too many services have names that read alike", "name")
        # ON CONFLICT rather than look-then-insert, so that a racing twin is refused, not a fault.
        service: Service | None = await session.scalar(
            insert(Service)
            .values(
                tenant_id=tenant_id,
                id=uuid.uuid4(),
                name=name,
                slug=slug,
                description=description,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
            .returning(Service)
        )
        if service is None:
            raise invalid("the tenant already has a service with this name (or one that reads alike)", "name")
    return service


ServiceKey = tuple[uuid.UUID, uuid.UUID]


async def services_by_key(session: AsyncSession, keys: Sequence[ServiceKey]) -> list[Service | None]:
    """Services by (tenant, id); those outside the session's tenant scope are not found."""
    rows = await session.scalars(select(Service).where(tuple_(Service.tenant_id, Service.id).in_(keys)))
    return one_each(keys, rows, lambda row: (row.tenant_id, row.id))


async def services_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Service | None]:
    """Services by id; those outside the session's tenant scope are not found."""
    rows = await session.scalars(select(Service).where(Service.id.in_(ids)))
    return one_each(ids, rows, lambda row: row.id)
