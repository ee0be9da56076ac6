"""Integration keys: created by a tenant's MANAGER, looked up by the intake with nothing but the key."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select

from domain.catalog.models import Service
from domain.db import Database, Scope, use_case
from domain.errors import invalid, not_found
from domain.intake.models import Alert, IntegrationKey
from domain.tenancy.actor import Actor, OneTenantActor, managed_tenants, require_role
from domain.tenancy.roles import Role
from domain.tenancy.roles import Scope as OAuthScope

MAX_NAME = 200
# The issuer of the system actor an integration key acts as; no token can carry it, so no person or
# client can ever pass for an integration (for instance as the reporter of its incidents).
INTEGRATION_ISSUER = "urn:incidentdesk:integration"


def new_routing_key() -> str:
    """32 hex characters (128 random bits), the shape of a PagerDuty integration key."""
    return secrets.token_hex(16)


@use_case
async def create_integration_key(
    db: Database, actor: Actor, *, tenant_id: uuid.UUID, name: str, service_id: uuid.UUID | None
) -> IntegrationKey:
    require_role(actor, tenant_id, Role.MANAGER, OAuthScope.MANAGE, what="creating an integration key")
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise invalid(f"must be 1 to {MAX_NAME} characters", "name")
    async with db.transaction(Scope.of([tenant_id])) as session:
        if service_id is not None:
            found = await session.scalar(
                select(Service.id).where(Service.tenant_id == tenant_id, Service.id == service_id)
            )
            if found is None:
                raise not_found("service", "service_id")
        taken = await session.scalar(
            select(IntegrationKey.id).where(
                IntegrationKey.tenant_id == tenant_id, IntegrationKey.name == name
            )
        )
        if taken is not None:
            raise invalid("the tenant already has an integration key with this name", "name")
        key = IntegrationKey(
            tenant_id=tenant_id,
            id=uuid.uuid4(),
            name=name,
            service_id=service_id,
            routing_key=new_routing_key(),
            active=True,
            created_by=actor.subject,
        )
        session.add(key)
    return key


@use_case
async def revoke_integration_key(db: Database, actor: Actor, *, key_id: uuid.UUID) -> IntegrationKey:
    """Stop accepting alerts with the key, at once and for good (a new key is created to replace it)."""
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        key = await session.scalar(
            select(IntegrationKey).where(IntegrationKey.id == key_id).with_for_update()
        )
        if key is None or actor.role_in(key.tenant_id) is None:
            raise not_found("integration key", "key_id")
        require_role(
            actor, key.tenant_id, Role.MANAGER, OAuthScope.MANAGE, what="revoking an integration key"
        )
        key.active = False
    return key


async def integration_keys(
    db: Database, actor: Actor, tenant_ids: Collection[uuid.UUID], *, key_id: uuid.UUID | None = None
) -> list[IntegrationKey]:
    """The keys of the tenants among ``tenant_ids`` the actor manages (only ``key_id`` when given),
    newest first; none elsewhere, as if they did not exist."""
    allowed = managed_tenants(actor, tenant_ids)
    if not allowed:
        return []
    statement = select(IntegrationKey).where(IntegrationKey.tenant_id.in_(allowed))
    if key_id is not None:
        statement = statement.where(IntegrationKey.id == key_id)
    async with db.transaction(Scope.of(allowed)) as session:
        rows = await session.scalars(statement.order_by(IntegrationKey.created_at.desc(), IntegrationKey.id))
        return list(rows.all())


@dataclass(frozen=True)
class IntegrationActor(OneTenantActor):
    """The system actor an integration key acts as inside its tenant: an AGENT that may write incidents
    and alerts, and nothing else. Satisfies ``domain.tenancy.actor.Actor``."""

    tenant_id: uuid.UUID
    key_name: str

    @property
    def issuer(self) -> str:
        return INTEGRATION_ISSUER

    @property
    def subject(self) -> str:
        return f"integration:{self.key_name}"[:255]

    @property
    def acting_role(self) -> Role:
        return Role.AGENT

    @property
    def acting_scopes(self) -> frozenset[str]:
        return _INTEGRATION_SCOPES


_INTEGRATION_SCOPES = frozenset(
    {OAuthScope.INCIDENTS_READ, OAuthScope.INCIDENTS_WRITE, OAuthScope.ALERTS_WRITE}
)


async def alert_log(db: Database, *, key: IntegrationKey, limit: int) -> list[Alert]:
    """The alerts accepted with ``key``, newest first: what arrived and what became of each. The caller
    holds the key, so it may see them (a MANAGER of the key's tenant)."""
    async with db.transaction(Scope.of([key.tenant_id])) as session:
        rows = await session.scalars(
            select(Alert)
            .where(Alert.tenant_id == key.tenant_id, Alert.integration_key_id == key.id)
            .order_by(Alert.position.desc())
            .limit(limit)
        )
        return list(rows.all())
