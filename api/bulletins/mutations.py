"""Bulletin mutations (AGENT): decode the input, call one domain use case, answer a payload with userErrors."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import strawberry

from api import fields
from api.bulletins.types import Bulletin, BulletinKind, BulletinPhase
from api.catalog.types import ServiceStatus
from api.context import Info
from api.errors import UserError
from api.mutation import Mutation
from api.permissions import IsAuthenticated
from domain.bulletins import models as m
from domain.bulletins import service


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


class BulletinMutation(Mutation):
    """A bulletin mutation: its input names the tenants ``tenants`` and a bulletin ``id``."""

    def __init__(self, info: Info) -> None:
        super().__init__(
            info, names={"tenant_ids": "tenants", "bulletin_id": "id", "affected": "affectedServices"}
        )

    async def tenants(self, values: Sequence[str] | None) -> list[uuid.UUID]:
        """The tenants named, or the caller's only tenant."""
        if values is None:
            return [await self.tenant_id(None, "tenant_ids")]
        return await self.tenant_ids(values, "tenant_ids", at_most=service.MAX_TENANTS)

    def affected(self, items: Sequence[AffectedServiceInput] | None) -> list[service.Affected] | None:
        if items is None:
            return None
        return [
            service.Affected(
                self.node_id(item.service_id, "Service", "affected", str(index), "service_id"), item.status
            )
            for index, item in enumerate(items)
        ]


@strawberry.type
class BulletinMutations:
    @fields.mutation(permission_classes=[IsAuthenticated], description="AGENT")
    async def create_bulletin(self, info: Info, input: CreateBulletinInput) -> BulletinPayload:
        run = BulletinMutation(info)
        new = service.NewBulletin(
            tenant_ids=await run.tenants(input.tenants),
            kind=input.kind,
            title=input.title,
            body=input.body,
            phase=input.phase,
            incident_id=run.optional_node_id(input.incident_id, "Incident", "incident_id"),
            affected=run.affected(input.affected_services) or [],
            scheduled_start=input.scheduled_start,
            scheduled_end=input.scheduled_end,
            publish=bool(input.publish),
        )
        return _payload(*await run(service.create_bulletin, new))

    @fields.mutation(permission_classes=[IsAuthenticated], description="AGENT")
    async def publish_bulletin(self, info: Info, input: BulletinRefInput) -> BulletinPayload:
        run = BulletinMutation(info)
        return _payload(
            *await run(service.publish_bulletin, run.node_id(input.id, "Bulletin", "bulletin_id"))
        )

    @fields.mutation(permission_classes=[IsAuthenticated], description="AGENT")
    async def post_bulletin_update(self, info: Info, input: BulletinUpdateInput) -> BulletinPayload:
        run = BulletinMutation(info)
        update = service.NewUpdate(
            bulletin_id=run.node_id(input.id, "Bulletin", "bulletin_id"),
            phase=input.phase,
            body=input.body,
            affected=run.affected(input.affected_services),
        )
        return _payload(*await run(service.post_bulletin_update, update))
