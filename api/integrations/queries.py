"""Reading integrations: by global ID (``node``) and per tenant, for the tenant's MANAGERs only."""

from __future__ import annotations

import uuid

import strawberry

from api import fields
from api.context import Context, Info
from api.integrations.types import IntegrationKey, WebhookEndpoint
from api.permissions import IsAuthenticated
from api.relay import Node
from api.tenancy.resolve import find_tenant_id
from domain.intake import keys
from domain.webhooks import service as webhook_service


async def integration_key_node(ctx: Context, key: uuid.UUID) -> Node | None:
    rows = await keys.integration_keys(ctx.db, ctx.actor(), ctx.tenant_ids, key_id=key)
    return IntegrationKey.from_row(rows[0]) if rows else None


async def webhook_endpoint_node(ctx: Context, key: uuid.UUID) -> Node | None:
    rows = await webhook_service.webhook_endpoints(
        ctx.db, actor=ctx.actor(), tenant_ids=ctx.tenant_ids, endpoint_id=key
    )
    return WebhookEndpoint.from_row(rows[0]) if rows else None


async def integration_keys(ctx: Context, tenants: frozenset[uuid.UUID]) -> list[IntegrationKey]:
    rows = await keys.integration_keys(ctx.db, ctx.actor(), tenants & ctx.tenant_ids)
    return [IntegrationKey.from_row(row) for row in rows]


async def webhook_endpoints(ctx: Context, tenants: frozenset[uuid.UUID]) -> list[WebhookEndpoint]:
    rows = await webhook_service.webhook_endpoints(
        ctx.db, actor=ctx.actor(), tenant_ids=tenants & ctx.tenant_ids
    )
    return [WebhookEndpoint.from_row(row) for row in rows]


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
