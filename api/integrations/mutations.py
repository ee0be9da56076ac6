"""Integration mutations (MANAGER): integration keys for alert intake, webhook endpoints for partners."""

from __future__ import annotations

import strawberry

from api.context import Info
from api.errors import UserError, attempt
from api.integrations.types import IntegrationKey, WebhookEndpoint
from api.permissions import IsAuthenticated
from api.relay import decode_id
from api.tenancy.resolve import resolve_tenant
from domain.errors import not_found
from domain.intake import keys
from domain.intake import models as intake
from domain.webhooks import service as webhooks
from domain.webhooks.signing import SecretBox


@strawberry.input(name="IntegrationKeyInput")
class IntegrationKeyInput:
    tenant: strawberry.ID | None = None
    name: str
    service_id: strawberry.ID | None = None


@strawberry.type(name="IntegrationKeyPayload")
class IntegrationKeyPayload:
    integration_key: IntegrationKey | None
    user_errors: list[UserError]


@strawberry.input(name="WebhookEndpointInput")
class WebhookEndpointInput:
    tenant: strawberry.ID | None = None
    url: str
    event_kinds: list[str]


@strawberry.type(name="WebhookEndpointPayload")
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None
    secret: str | None = strawberry.field(
        description="The signing secret (Standard Webhooks, whsec_...): shown once, here"
    )
    user_errors: list[UserError]


@strawberry.type
class IntegrationMutations:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="MANAGER. A routing key for POST /v2/enqueue, for the tenant or one of its services",
    )
    async def create_integration_key(self, info: Info, input: IntegrationKeyInput) -> IntegrationKeyPayload:
        ctx = info.context

        async def run() -> intake.IntegrationKey:
            tenant_id = await resolve_tenant(ctx, input.tenant, "input", "tenant")
            service_id = None
            if input.service_id is not None:
                service_id = decode_id(input.service_id, "Service")
                if service_id is None:
                    raise not_found("service", "input", "serviceId")
            return await keys.create_integration_key(ctx.db, ctx.actor(), tenant_id, input.name, service_id)

        row, errors = await attempt(run)
        return IntegrationKeyPayload(
            integration_key=IntegrationKey.from_row(row) if row is not None else None, user_errors=errors
        )

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="MANAGER. Signed deliveries of the chosen incident event kinds; the secret is shown once",
    )
    async def create_webhook_endpoint(
        self, info: Info, input: WebhookEndpointInput
    ) -> WebhookEndpointPayload:
        ctx = info.context

        async def run() -> webhooks.CreatedEndpoint:
            tenant_id = await resolve_tenant(ctx, input.tenant, "input", "tenant")
            return await webhooks.create_webhook_endpoint(
                ctx.db,
                ctx.actor(),
                tenant_id,
                input.url,
                input.event_kinds,
                box=SecretBox(ctx.settings.key_encryption_key),
                allow_private_targets=ctx.settings.webhook_allow_private_targets,
            )

        created, errors = await attempt(run)
        if created is None:
            return WebhookEndpointPayload(endpoint=None, secret=None, user_errors=errors)
        return WebhookEndpointPayload(
            endpoint=WebhookEndpoint.from_row(created.endpoint), secret=created.secret, user_errors=[]
        )
