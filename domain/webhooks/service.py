"""Webhook endpoint use cases: a MANAGER creates an endpoint (its secret shown once); its delivery log."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import Database, Scope, use_case
from domain.errors import ErrorCode, Problem, Refused, invalid, not_found
from domain.incidents.enums import IncidentEventKind
from domain.sealing import SealingError
from domain.tenancy.actor import Actor, managed_tenants, require_role
from domain.tenancy.models import TenantCounter
from domain.tenancy.roles import Role
from domain.tenancy.roles import Scope as OAuthScope
from domain.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from domain.webhooks.signing import SecretBox, new_secret
from domain.webhooks.targets import UnsafeTarget, checked_address, parse_target

log = logging.getLogger(__name__)

MAX_ENDPOINTS_PER_TENANT = 20
KNOWN_KINDS = frozenset(kind.value for kind in IncidentEventKind)


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    # Shown to the creator once; only its sealed form is kept.
    secret: str


def _kinds(event_kinds: Sequence[str]) -> list[str]:
    if not event_kinds:
        raise invalid("choose at least one event kind", "event_kinds")
    problems = [
        Problem(ErrorCode.INVALID, f"unknown event kind {kind!r}", ("event_kinds", str(i)))
        for i, kind in enumerate(event_kinds)
        if kind not in KNOWN_KINDS
    ]
    if problems:
        raise Refused(problems)
    return sorted(set(event_kinds))


@use_case
async def create_webhook_endpoint(
    db: Database,
    actor: Actor,
    *,
    tenant_id: uuid.UUID,
    url: str,
    event_kinds: Sequence[str],
    box: SecretBox,
    allow_private_targets: bool,
) -> CreatedEndpoint:
    require_role(actor, tenant_id, Role.MANAGER, OAuthScope.MANAGE, what="creating a webhook endpoint")
    kinds = _kinds(event_kinds)
    try:
        target = parse_target(url)
        await checked_address(target, allow_private_targets)
    except UnsafeTarget as unsafe:
        raise invalid(str(unsafe), "url") from None
    secret = new_secret()
    async with db.transaction(Scope.of([tenant_id])) as session:
        count = await session.scalar(
            select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id)
        )
        if (count or 0) >= MAX_ENDPOINTS_PER_TENANT:
            raise Refused.one(
                ErrorCode.LIMIT_EXCEEDED,
                f"a tenant may have at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints",
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


async def _managed_endpoint(
    session: AsyncSession, actor: Actor, endpoint_id: uuid.UUID, what: str
) -> WebhookEndpoint:
    """The endpoint, locked, if the actor manages its tenant; NOT_FOUND otherwise, like an absent one."""
    endpoint = await session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update()
    )
    if endpoint is None or actor.role_in(endpoint.tenant_id) is None:
        raise not_found("webhook endpoint", "endpoint_id")
    require_role(actor, endpoint.tenant_id, Role.MANAGER, OAuthScope.MANAGE, what=what)
    return endpoint


@use_case
async def rotate_webhook_secret(
    db: Database, actor: Actor, *, endpoint_id: uuid.UUID, box: SecretBox
) -> CreatedEndpoint:
    """A new signing secret (shown once); the old one stops signing at once."""
    secret = new_secret()
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        endpoint = await _managed_endpoint(session, actor, endpoint_id, "rotating a webhook secret")
        endpoint.secret = box.seal(secret)
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


@use_case
async def enable_webhook_endpoint(db: Database, actor: Actor, *, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """Deliver to an endpoint again after it was disabled for failing; the events it missed meanwhile
    follow (its cursor stayed where it was disabled), in order."""
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        endpoint = await _managed_endpoint(session, actor, endpoint_id, "enabling a webhook endpoint")
        endpoint.active = True
        endpoint.disabled_at = None
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    return endpoint


async def reseal_webhook_secrets(db: Database, *, box: SecretBox) -> int:
    """Seal every endpoint's secret with the sealing key (plaintext rows from before sealing was the
    rule, rows sealed with an older key); system work across every tenant. Returns how many moved."""
    tenants = await db.all_tenant_ids()
    if not tenants:
        return 0
    moved = 0
    async with db.transaction(Scope.of(tenants)) as session:
        for endpoint in await session.scalars(select(WebhookEndpoint).with_for_update()):
            if box.is_current(endpoint.secret):
                continue
            try:
                endpoint.secret = box.reseal(endpoint.secret)
            except SealingError:
                log.warning("the secret of webhook endpoint %s opens with no configured key", endpoint.id)
                continue
            moved += 1
    if moved:
        log.info("sealed %d webhook secret(s) with the current key encryption key", moved)
    return moved


async def webhook_endpoints(
    db: Database, *, actor: Actor, tenant_ids: Iterable[uuid.UUID], endpoint_id: uuid.UUID | None = None
) -> list[WebhookEndpoint]:
    """The endpoints of the tenants among ``tenant_ids`` the actor manages (only ``endpoint_id`` when
    given), newest first; none elsewhere, as if they did not exist."""
    allowed = managed_tenants(actor, tenant_ids)
    if not allowed:
        return []
    statement = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id.in_(allowed))
    if endpoint_id is not None:
        statement = statement.where(WebhookEndpoint.id == endpoint_id)
    async with db.transaction(Scope.of(allowed)) as session:
        rows = await session.scalars(
            statement.order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id)
        )
        return list(rows.all())


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
