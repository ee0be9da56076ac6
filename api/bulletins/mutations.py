"""Bulletin mutations (AGENT): decode the input, call one domain use case, answer a payload with userErrors."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import strawberry

from api import fields
from api.bulletins.types import Bulletin, BulletinKind, BulletinPhase
from api.catalog.types import ServiceStatus
from api.context import Context, Info
from api.errors import UserError, attempt
from api.permissions import IsAuthenticated
from api.relay import decode_id
from api.tenancy.resolve import find_tenant_id, resolve_tenant
from domain.bulletins import models as m
from domain.bulletins import service
from domain.errors import not_found


@strawberry.input(name="AffectedServiceInput")
class AffectedServiceInput:
    service_id: strawberry.ID
    status: ServiceStatus


@strawberry.input(name="CreateBulletinInput")
class CreateBulletinInput:
    tenants: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Several tenants at once for a provider-wide outage; one row per tenant",
    )
    kind: BulletinKind
    title: str
    body: str
    phase: BulletinPhase
    incident_id: strawberry.ID | None = None
    affected_services: list[AffectedServiceInput] | None = None
    scheduled_start: datetime | None = None
    scheduled_end: datetime | None = None
    publish: bool | None = False


@strawberry.input(name="BulletinRefInput")
class BulletinRefInput:
    id: strawberry.ID


@strawberry.input(name="BulletinUpdateInput")
class BulletinUpdateInput:
    id: strawberry.ID
    phase: BulletinPhase
    body: str
    affected_services: list[AffectedServiceInput] | None = strawberry.field(
        default=None, description="When given, replaces the bulletin's affected services"
    )


@strawberry.type(name="BulletinPayload")
class BulletinPayload:
    bulletins: list[Bulletin]
    user_errors: list[UserError]


def _payload(rows: list[m.Bulletin] | None, errors: list[UserError]) -> BulletinPayload:
    return BulletinPayload(bulletins=[Bulletin.from_row(r) for r in rows or []], user_errors=errors)


async def _tenants(ctx: Context, values: Sequence[str] | None) -> list[uuid.UUID]:
    if values is None:
        return [await resolve_tenant(ctx, None, "input", "tenants")]
    found = []
    for index, value in enumerate(values):
        tenant_id = await find_tenant_id(ctx, value)
        if tenant_id is None or tenant_id not in ctx.tenant_ids:
            raise not_found("tenant", "input", "tenants", str(index))
        found.append(tenant_id)
    return found


def _affected(items: Sequence[AffectedServiceInput] | None) -> list[service.Affected] | None:
    if items is None:
        return None
    decoded = []
    for index, item in enumerate(items):
        service_id = decode_id(item.service_id, "Service")
        if service_id is None:
            raise not_found("service", "input", "affectedServices", str(index), "serviceId")
        decoded.append(service.Affected(service_id, item.status))
    return decoded


def _bulletin_id(value: str) -> uuid.UUID:
    decoded = decode_id(value, "Bulletin")
    if decoded is None:
        raise not_found("bulletin", "input", "id")
    return decoded


@strawberry.type
class BulletinMutations:
    @fields.mutation(permission_classes=[IsAuthenticated], description="AGENT")
    async def create_bulletin(self, info: Info, input: CreateBulletinInput) -> BulletinPayload:
        ctx = info.context

        async def run() -> list[m.Bulletin]:
            incident_id = None
            if input.incident_id is not None:
                incident_id = decode_id(input.incident_id, "Incident")
                if incident_id is None:
                    raise not_found("incident", "input", "incidentId")
            new = service.NewBulletin(
                tenant_ids=await _tenants(ctx, input.tenants),
                kind=input.kind,
                title=input.title,
                body=input.body,
                phase=input.phase,
                incident_id=incident_id,
                affected=_affected(input.affected_services) or [],
                scheduled_start=input.scheduled_start,
                scheduled_end=input.scheduled_end,
                publish=bool(input.publish),
            )
            return await service.create_bulletin(ctx.db, ctx.actor(), new)

        return _payload(*await attempt(run))

    @fields.mutation(permission_classes=[IsAuthenticated], description="AGENT")
    async def publish_bulletin(self, info: Info, input: BulletinRefInput) -> BulletinPayload:
        ctx = info.context

        async def run() -> list[m.Bulletin]:
            return await service.publish_bulletin(ctx.db, ctx.actor(), _bulletin_id(input.id))

        return _payload(*await attempt(run))

    @fields.mutation(permission_classes=[IsAuthenticated], description="AGENT")
    async def post_bulletin_update(self, info: Info, input: BulletinUpdateInput) -> BulletinPayload:
        ctx = info.context

        async def run() -> list[m.Bulletin]:
            update = service.NewUpdate(
                bulletin_id=_bulletin_id(input.id),
                phase=input.phase,
                body=input.body,
                affected=_affected(input.affected_services),
            )
            return await service.post_bulletin_update(ctx.db, ctx.actor(), update)

        return _payload(*await attempt(run))
