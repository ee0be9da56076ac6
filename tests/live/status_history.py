"""A stored history of service statuses for the status page's tests: a service made older than today,
and status changes written in the past, numbered and announced as every bulletin event is."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update

from domain.bulletins.models import BulletinEvent, BulletinEventKind
from domain.bulletins.phases import ServiceStatus
from domain.catalog.models import Service
from domain.db import Database, Scope
from domain.events import record_bulletin


async def write_history(
    db: Database,
    tenant_id: uuid.UUID,
    service_id: uuid.UUID,
    *,
    created_at: datetime,
    changes: Sequence[tuple[datetime, ServiceStatus]],
) -> None:
    async with db.transaction(Scope.of([tenant_id])) as session:
        await session.execute(
            update(Service)
            .where(Service.tenant_id == tenant_id, Service.id == service_id)
            .values(created_at=created_at)
        )
        for at, status in changes:
            await record_bulletin(
                session,
                BulletinEvent(
                    tenant_id=tenant_id,
                    id=uuid.uuid4(),
                    kind=BulletinEventKind.SERVICE_STATUS_CHANGED,
                    published=True,
                    service_id=service_id,
                    status=status,
                    data={},
                    at=at,
                ),
            )
