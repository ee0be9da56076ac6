"""Integration mutations (MANAGER): integration keys for alert intake, webhook endpoints for partners."""

from __future__ import annotations

import strawberry

from api import fields
from api.context import Info
from api.errors import UserError, attempt
from api.integrations.types import IntegrationKey, WebhookEndpoint
from api.permissions import IsAuthenticated
from api.relay import decode_id
from api.tenancy.resolve import resolve_tenant
from domain.errors import not_found
from domain.intake import keys
from domain.intake import models as intake
from domain.webhooks import models as webhook_models
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


@strawberry.input(name="RevokeIntegrationKeyInput")
class RevokeIntegrationKeyInput:
    id: strawberry.ID


@strawberry.input(name="RotateWebhookSecretInput")
class RotateWebhookSecretInput:
    id: strawberry.ID


@strawberry.input(name="EnableWebhookEndpointInput")
class EnableWebhookEndpointInput:
    id: strawberry.ID


@strawberry.type
class IntegrationMutations:
    @fields.mutation(
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
            return await keys.create_integration_key(
                ctx.db, ctx.actor(), tenant_id=tenant_id, name=input.name, service_id=service_id
            )

        row, errors = await attempt(run)
        return IntegrationKeyPayload(
            integration_key=IntegrationKey.from_row(row) if row is not None else None, user_errors=errors
        )

    @fields.mutation(
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
                tenant_id=tenant_id,
                url=input.url,
                event_kinds=input.event_kinds,
                box=SecretBox.for_settings(ctx.settings),
                allow_private_targets=ctx.settings.webhook_allow_private_targets,
            )

        created, errors = await attempt(run)
        if created is None:
            return WebhookEndpointPayload(endpoint=None, secret=None, user_errors=errors)
        return WebhookEndpointPayload(
            endpoint=WebhookEndpoint.from_row(created.endpoint), secret=created.secret, user_errors=[]
        )

    @fields.mutation(
        permission_classes=[IsAuthenticated],
        description="MANAGER. The routing key stops being accepted at once, for good",
    )
    async def revoke_integration_key(
        self, info: Info, input: RevokeIntegrationKeyInput
    ) -> IntegrationKeyPayload:
        ctx = info.context

        async def run() -> intake.IntegrationKey:
            key_id = decode_id(input.id, "IntegrationKey")
            if key_id is None:
                raise not_found("integration key", "input", "id")
            return await keys.revoke_integration_key(ctx.db, actor=ctx.actor(), key_id=key_id)

        row, errors = await attempt(run)
        return IntegrationKeyPayload(
            integration_key=IntegrationKey.from_row(row) if row is not None else None, user_errors=errors
        )

    @fields.mutation(
        permission_classes=[IsAuthenticated],
        description="MANAGER. A new signing secret, shown once here; the old one stops signing at once",
    )
    async def rotate_webhook_secret(
        self, info: Info, input: RotateWebhookSecretInput
    ) -> WebhookEndpointPayload:
        ctx = info.context

        async def run() -> webhooks.CreatedEndpoint:
            endpoint_id = decode_id(input.id, "WebhookEndpoint")
            if endpoint_id is None:
                raise not_found("webhook endpoint", "input", "id")
            return await webhooks.rotate_webhook_secret(
                ctx.db, actor=ctx.actor(), endpoint_id=endpoint_id, box=SecretBox.for_settings(ctx.settings)
            )

        rotated, errors = await attempt(run)
        if rotated is None:
            return WebhookEndpointPayload(endpoint=None, secret=None, user_errors=errors)
        return WebhookEndpointPayload(
            endpoint=WebhookEndpoint.from_row(rotated.endpoint), secret=rotated.secret, user_errors=[]
        )

    @fields.mutation(
        permission_classes=[IsAuthenticated],
        description="MANAGER. Deliver to a disabled endpoint again; the events it missed follow in order",
    )
    async def enable_webhook_endpoint(
        self, info: Info, input: EnableWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        ctx = info.context

        async def run() -> webhook_models.WebhookEndpoint:
            endpoint_id = decode_id(input.id, "WebhookEndpoint")
            if endpoint_id is None:
                raise not_found("webhook endpoint", "input", "id")
            return await webhooks.enable_webhook_endpoint(ctx.db, actor=ctx.actor(), endpoint_id=endpoint_id)

        row, errors = await attempt(run)
        return WebhookEndpointPayload(
            endpoint=WebhookEndpoint.from_row(row) if row is not None else None,
            secret=None,
            user_errors=errors,
        )
