"""Webhook endpoint use cases: a MANAGER creates an endpoint (its secret shown once); its delivery log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select

from domain.db import Database, Scope
from domain.errors import ErrorCode, Problem, Refused, invalid
from domain.incidents.enums import IncidentEventKind
from domain.tenancy.actor import Actor, require_role
from domain.tenancy.models import TenantCounter
from domain.tenancy.roles import Role
from domain.tenancy.roles import Scope as OAuthScope
from domain.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from domain.webhooks.signing import SecretBox, new_secret
from domain.webhooks.targets import UnsafeTarget, checked_address, parse_target

MAX_ENDPOINTS_PER_TENANT = 20
KNOWN_KINDS = frozenset(kind.value for kind in IncidentEventKind)


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    # Shown to the creator once; only its sealed form is kept.
    secret: str


def _kinds(event_kinds: Sequence[str]) -> list[str]:
    if not event_kinds:
        raise invalid("choose at least one event kind", "input", "eventKinds")
    problems = [
        Problem(ErrorCode.INVALID, f"unknown event kind {kind!r}", ("input", "eventKinds", str(i)))
        for i, kind in enumerate(event_kinds)
        if kind not in KNOWN_KINDS
    ]
    if problems:
        raise Refused(problems)
    return sorted(set(event_kinds))


async def create_webhook_endpoint(
    db: Database,
    actor: Actor,
    tenant_id: uuid.UUID,
    url: str,
    event_kinds: Sequence[str],
    *,
    box: SecretBox,
    allow_private_targets: bool,
) -> CreatedEndpoint:
    require_role(actor, tenant_id, Role.MANAGER, OAuthScope.MANAGE, what="creating a webhook endpoint")
    kinds = _kinds(event_kinds)
    try:
        target = parse_target(url)
        await checked_address(target, allow_private_targets)
    except UnsafeTarget as unsafe:
        raise invalid(str(unsafe), "input", "url") from None
    secret = new_secret()
    async with db.transaction(Scope.of([tenant_id])) as session:
        count = await session.scalar(
            select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id)
        )
        if (count or 0) >= MAX_ENDPOINTS_PER_TENANT:
            raise Refused.one(
                ErrorCode.LIMIT_EXCEEDED,
                f"a tenant may have at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints",
                "input",
                "tenant",
            )
        # A new endpoint hears of what happens from now on, not of the tenant's whole history.
        last_seq = await session.scalar(
            select(TenantCounter.last_event_seq).where(TenantCounter.tenant_id == tenant_id)
        )
        endpoint = WebhookEndpoint(
            tenant_id=tenant_id,
            id=uuid.uuid4(),
            url=target.url,
            event_kinds=kinds,
            secret=box.seal(secret),
            active=True,
            last_seq=int(last_seq or 0),
            created_by=actor.subject,
        )
        session.add(endpoint)
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


def may_manage(actor: Actor, tenant_id: uuid.UUID) -> bool:
    role = actor.role_in(tenant_id)
    return role is Role.MANAGER and actor.can(OAuthScope.MANAGE, tenant_id)


async def recent_deliveries(
    db: Database, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, limit: int
) -> list[WebhookDelivery]:
    """The endpoint's newest deliveries first."""
    async with db.transaction(Scope.of([tenant_id])) as session:
        rows = await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.event_seq.desc())
            .limit(limit)
        )
        return list(rows.all())


async def attempts_of(
    db: Database, keys: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> dict[tuple[uuid.UUID, uuid.UUID], list[WebhookAttempt]]:
    """The attempt log of each (tenant_id, delivery_id), oldest attempt first."""
    found: dict[tuple[uuid.UUID, uuid.UUID], list[WebhookAttempt]] = {key: [] for key in keys}
    if not keys:
        return found
    async with db.transaction(Scope.of({t for t, _ in keys})) as session:
        rows = await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_([d for _, d in keys]))
            .order_by(WebhookAttempt.number)
        )
        for row in rows:
            found.setdefault((row.tenant_id, row.delivery_id), []).append(row)
    return found
