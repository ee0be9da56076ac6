"""Catalogue use cases: the services a tenant's incidents are raised against."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from domain.catalog.models import Service
from domain.db import Database, Scope
from domain.errors import invalid
from domain.tenancy.actor import Actor, require_role
from domain.tenancy.roles import Role
from domain.tenancy.roles import Scope as OAuthScope


async def create_service(
    db: Database, actor: Actor, tenant_id: uuid.UUID, name: str, description: str | None
) -> Service:
    require_role(actor, tenant_id, Role.MANAGER, OAuthScope.MANAGE, what="creating a service")
    name = name.strip()
    if not name or len(name) > 200:
        raise invalid("must be 1 to 200 characters", "input", "name")
    if description is not None and len(description) > 5000:
        raise invalid("must be at most 5000 characters", "input", "description")
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        taken = await session.scalar(
            select(Service.id).where(Service.tenant_id == tenant_id, Service.name == name)
        )
        if taken is not None:
            raise invalid("the tenant already has a service with this name", "input", "name")
        service = Service(tenant_id=tenant_id, id=uuid.uuid4(), name=name, description=description)
        session.add(service)
    return service
