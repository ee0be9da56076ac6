"""GraphQL types of the integrations: integration keys, webhook endpoints and their delivery log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import strawberry

from api import fields
from api.catalog.types import Service, service_by_key
from api.context import Context, Info
from api.errors import ClientError
from api.incidents.types import Incident, incident_by_id
from api.mapping import mapped
from api.relay import MAX_PAGE, Node, encode_id
from api.tenancy.types import InTenant
from domain.intake import keys
from domain.intake import models as intake
from domain.webhooks import models as webhooks
from domain.webhooks import service

# How many entries of a log (alerts, deliveries) a field answers with when not told.
DEFAULT_LOG_SIZE = 20


def _log_size(first: int | None) -> int:
    size = DEFAULT_LOG_SIZE if first is None else first
    if not 0 <= size <= MAX_PAGE:
        raise ClientError(f"first must be between 0 and {MAX_PAGE}", "LIMIT_EXCEEDED")
    return size


@strawberry.type(
    name="IntegrationKey", description="A routing key for POST /v2/enqueue (PagerDuty Events API v2)"
)
class IntegrationKey(Node, InTenant):
    name: str
    routing_key: str
    active: bool = strawberry.field(description="False once revoked: the intake refuses the key")
    created_at: datetime
    row: strawberry.Private[intake.IntegrationKey]

    @classmethod
    def from_row(cls, row: intake.IntegrationKey) -> IntegrationKey:
        return mapped(cls, row, id=encode_id("IntegrationKey", row.id), row=row)

    @strawberry.field
    async def service(self, info: Info) -> Service | None:
        return await service_by_key(info.context, self.row.tenant_id, self.row.service_id)

    @fields.field(
        description="The alert log: the newest alerts accepted with this key first (at most 100), with"
        " what became of each. Applied alerts are kept INCIDENTDESK_ALERT_LOG_RETENTION_DAYS days (7)."
    )
    async def recent_alerts(self, info: Info, first: int | None = None) -> list[ReceivedAlert]:
        rows = await keys.alert_log(info.context.db, key=self.row, limit=_log_size(first))
        return [ReceivedAlert.from_row(row) for row in rows]


@strawberry.type(
    name="ReceivedAlert",
    description="An alert POST /v2/enqueue accepted (answered 202), and what became of it once applied",
)
class ReceivedAlert:
    action: str = strawberry.field(description="trigger, acknowledge or resolve")
    dedup_key: str
    summary: str | None
    received_at: datetime
    processed_at: datetime | None = strawberry.field(description="Null while it waits to be applied")
    outcome: str | None = strawberry.field(
        description="What applying it did, e.g. 'Event processed; no open incident has this dedup_key'"
    )
    row: strawberry.Private[intake.Alert]

    @classmethod
    def from_row(cls, row: intake.Alert) -> ReceivedAlert:
        payload = row.body.get("payload")
        summary = payload.get("summary") if isinstance(payload, dict) else None
        return mapped(cls, row, summary=summary.strip() if isinstance(summary, str) else None, row=row)

    @fields.field(description="The incident it opened, counted on, acknowledged or resolved")
    async def incident(self, info: Info) -> Incident | None:
        if self.row.incident_id is None:
            return None
        return await incident_by_id(info, self.row.incident_id)


@strawberry.type(name="WebhookAttempt", description="One delivery attempt, as the delivery log keeps it")
class WebhookAttempt:
    number: int
    at: datetime
    response_status: int | None
    error: str | None
    duration_ms: int

    @classmethod
    def from_row(cls, row: webhooks.WebhookAttempt) -> WebhookAttempt:
        return mapped(cls, row)


@strawberry.type(name="WebhookDelivery")
class WebhookDelivery:
    id: strawberry.ID
    event_kind: str
    status: str = strawberry.field(description="PENDING, DELIVERED or FAILED (given up)")
    attempts: int
    last_attempt_at: datetime | None
    response_status: int | None
    next_attempt_at: datetime | None
    created_at: datetime
    row: strawberry.Private[webhooks.WebhookDelivery]

    @classmethod
    def from_row(cls, row: webhooks.WebhookDelivery) -> WebhookDelivery:
        pending = row.status is webhooks.DeliveryStatus.PENDING
        return mapped(
            cls,
            row,
            id=encode_id("WebhookDelivery", row.id),
            status=row.status.value,
            next_attempt_at=row.next_attempt_at if pending else None,
            row=row,
        )

    @fields.field(description="Every attempt, oldest first")
    async def log(self, info: Info) -> list[WebhookAttempt]:
        key = (self.row.tenant_id, self.row.id)
        attempts = await info.context.loader(_load_attempts).load(key)
        return [WebhookAttempt.from_row(a) for a in attempts]


AttemptKey = tuple[uuid.UUID, uuid.UUID]


async def _load_attempts(ctx: Context, keys: Sequence[AttemptKey]) -> list[list[webhooks.WebhookAttempt]]:
    found = await service.attempts_of(ctx.db, list(keys))
    return [found.get(key, []) for key in keys]


@strawberry.type(name="WebhookEndpoint")
class WebhookEndpoint(Node, InTenant):
    url: str
    event_kinds: list[str]
    active: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime
    row: strawberry.Private[webhooks.WebhookEndpoint]

    @classmethod
    def from_row(cls, row: webhooks.WebhookEndpoint) -> WebhookEndpoint:
        return mapped(
            cls, row, id=encode_id("WebhookEndpoint", row.id), event_kinds=list(row.event_kinds), row=row
        )

    @fields.field(description="The newest deliveries first (at most 100)")
    async def deliveries(self, info: Info, first: int | None = None) -> list[WebhookDelivery]:
        size = _log_size(first)
        rows = await service.recent_deliveries(info.context.db, self.row.tenant_id, self.row.id, size)
        return [WebhookDelivery.from_row(row) for row in rows]
