"""Integration mutations (MANAGER): integration keys for alert intake, webhook endpoints for partners."""

from __future__ import annotations

import strawberry

from api import fields
from api.context import Info
from api.errors import UserError
from api.integrations.types import IntegrationKey, WebhookEndpoint
from api.mutation import Mutation
from api.permissions import IsAuthenticated
from domain.intake import keys
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


class EndpointMutation(Mutation):
    """A mutation of one webhook endpoint, named ``id`` in its input."""

    def __init__(self, info: Info, id: str) -> None:
        super().__init__(info, names={"endpoint_id": "id"})
        self.endpoint_id = self.node_id(id, "WebhookEndpoint", "endpoint_id")


def endpoint_payload(
    row: webhook_models.WebhookEndpoint | None, errors: list[UserError], secret: str | None = None
) -> WebhookEndpointPayload:
    endpoint = WebhookEndpoint.from_row(row) if row is not None else None
    return WebhookEndpointPayload(endpoint=endpoint, secret=secret, user_errors=errors)


def secret_payload(made: webhooks.CreatedEndpoint | None, errors: list[UserError]) -> WebhookEndpointPayload:
    """An endpoint with its new signing secret, shown this once."""
    if made is None:
        return endpoint_payload(None, errors)
    return endpoint_payload(made.endpoint, errors, made.secret)


@strawberry.type
class IntegrationMutations:
    @fields.mutation(
        permission_classes=[IsAuthenticated],
        description="MANAGER. A routing key for POST /v2/enqueue, for the tenant or one of its services",
    )
    async def create_integration_key(self, info: Info, input: IntegrationKeyInput) -> IntegrationKeyPayload:
        run = Mutation(info)
        row, errors = await run(
            keys.create_integration_key,
            tenant_id=await run.tenant_id(input.tenant, "tenant"),
            name=input.name,
            service_id=run.optional_node_id(input.service_id, "Service", "service_id"),
        )
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
        run = Mutation(info)
        settings = info.context.settings
        created, errors = await run(
            webhooks.create_webhook_endpoint,
            tenant_id=await run.tenant_id(input.tenant, "tenant"),
            url=input.url,
            event_kinds=input.event_kinds,
            box=SecretBox.for_settings(settings),
            allow_private_targets=settings.webhook_allow_private_targets,
        )
        return secret_payload(created, errors)

    @fields.mutation(
        permission_classes=[IsAuthenticated],
        description="MANAGER. The routing key stops being accepted at once, for good",
    )
    async def revoke_integration_key(
        self, info: Info, input: RevokeIntegrationKeyInput
    ) -> IntegrationKeyPayload:
        run = Mutation(info, names={"key_id": "id"})
        key_id = run.node_id(input.id, "IntegrationKey", "key_id")
        row, errors = await run(keys.revoke_integration_key, key_id=key_id)
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
        run = EndpointMutation(info, input.id)
        box = SecretBox.for_settings(info.context.settings)
        return secret_payload(
            *await run(webhooks.rotate_webhook_secret, endpoint_id=run.endpoint_id, box=box)
        )

    @fields.mutation(
        permission_classes=[IsAuthenticated],
        description="MANAGER. Deliver to a disabled endpoint again; the events it missed follow in order",
    )
    async def enable_webhook_endpoint(
        self, info: Info, input: EnableWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        run = EndpointMutation(info, input.id)
        return endpoint_payload(*await run(webhooks.enable_webhook_endpoint, endpoint_id=run.endpoint_id))
