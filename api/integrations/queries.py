"""Reading integrations: by global ID (``node``) and per tenant, for the tenant's MANAGERs only."""

from __future__ import annotations

import uuid

import strawberry
from sqlalchemy import select

from api import fields
from api.context import Context, Info
from api.integrations.types import IntegrationKey, WebhookEndpoint
from api.permissions import IsAuthenticated
from api.relay import Node
from api.tenancy.resolve import find_tenant_id
from domain.intake import keys
from domain.intake import models as intake
from domain.webhooks import models as webhooks
from domain.webhooks.service import may_manage


def managed_tenants(ctx: Context) -> frozenset[uuid.UUID]:
    principal = ctx.actor()
    return frozenset(t for t in ctx.tenant_ids if may_manage(principal, t))


async def integration_key_node(ctx: Context, key: uuid.UUID) -> Node | None:
    tenants = managed_tenants(ctx)
    if not tenants:
        return None
    async with ctx.db.transaction(ctx.scope) as session:
        row = await session.scalar(
            select(intake.IntegrationKey).where(
                intake.IntegrationKey.id == key, intake.IntegrationKey.tenant_id.in_(tenants)
            )
        )
    return IntegrationKey.from_row(row) if row is not None else None


async def webhook_endpoint_node(ctx: Context, key: uuid.UUID) -> Node | None:
    tenants = managed_tenants(ctx)
    if not tenants:
        return None
    async with ctx.db.transaction(ctx.scope) as session:
        row = await session.scalar(
            select(webhooks.WebhookEndpoint).where(
                webhooks.WebhookEndpoint.id == key, webhooks.WebhookEndpoint.tenant_id.in_(tenants)
            )
        )
    return WebhookEndpoint.from_row(row) if row is not None else None


async def integration_keys(ctx: Context, tenants: frozenset[uuid.UUID]) -> list[IntegrationKey]:
    rows = await keys.integration_keys(ctx.db, ctx.actor(), tenants & managed_tenants(ctx))
    return [IntegrationKey.from_row(row) for row in rows]


async def webhook_endpoints(ctx: Context, tenants: frozenset[uuid.UUID]) -> list[WebhookEndpoint]:
    allowed = tenants & managed_tenants(ctx)
    if not allowed:
        return []
    async with ctx.db.transaction(ctx.scope) as session:
        rows = await session.scalars(
            select(webhooks.WebhookEndpoint)
            .where(webhooks.WebhookEndpoint.tenant_id.in_(allowed))
            .order_by(webhooks.WebhookEndpoint.created_at.desc(), webhooks.WebhookEndpoint.id)
        )
        return [WebhookEndpoint.from_row(row) for row in rows.all()]


async def _tenants(ctx: Context, tenant: str | None) -> frozenset[uuid.UUID]:
    tenants = ctx.tenant_ids
    if tenant is not None:
        chosen = await find_tenant_id(ctx, tenant)
        tenants = tenants & {chosen} if chosen else frozenset()
    return tenants


@strawberry.type
class IntegrationQueries:
    @fields.field(
        permission_classes=[IsAuthenticated],
        description="Integration keys of the tenants the caller manages (MANAGER), newest first",
    )
    async def integration_keys(self, info: Info, tenant: strawberry.ID | None = None) -> list[IntegrationKey]:
        return await integration_keys(info.context, await _tenants(info.context, tenant))

    @fields.field(
        permission_classes=[IsAuthenticated],
        description="Webhook endpoints of the tenants the caller manages (MANAGER), newest first",
    )
    async def webhook_endpoints(
        self, info: Info, tenant: strawberry.ID | None = None
    ) -> list[WebhookEndpoint]:
        return await webhook_endpoints(info.context, await _tenants(info.context, tenant))
