"""Who is calling: a verified token, and the principal resolved from it through memberships."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import select

from domain.db import Database, Scope
from domain.tenancy.models import Membership, Operator
from domain.tenancy.roles import ALL_SCOPES, ROLE_SCOPES, Role


@dataclass(frozen=True)
class VerifiedToken:
    """A token whose signature and registered claims have been checked; nothing about tenants yet."""

    issuer: str
    subject: str
    # None when the token carries no scope claim at all: the role alone then decides.
    scopes: frozenset[str] | None
    # Set only for client-credentials tokens of the built-in issuer.
    client_id: str | None
    claims: dict[str, Any] = field(repr=False)
    expires_at: datetime
    # The signing key that verified it: a token stays good only while its key does.
    kid: str = ""


@dataclass(frozen=True)
class Principal:
    """A caller with its tenants. Rights in a tenant are the membership's role intersected with the scopes."""

    issuer: str
    subject: str
    is_operator: bool
    # Excluded from the hash (a mapping is unhashable); principals still hash by identity of the caller.
    memberships: Mapping[uuid.UUID, Role] = field(hash=False)
    scopes: frozenset[str]
    client_id: str | None = None

    @functools.cached_property
    def tenant_ids(self) -> frozenset[uuid.UUID]:
        # Read on every request of a cached principal: built once.
        return frozenset(self.memberships)

    @property
    def is_client(self) -> bool:
        return self.client_id is not None

    def role_in(self, tenant_id: uuid.UUID) -> Role | None:
        return self.memberships.get(tenant_id)

    def rights_in(self, tenant_id: uuid.UUID) -> frozenset[str]:
        role = self.role_in(tenant_id)
        if role is None:
            return frozenset()
        return frozenset(str(scope) for scope in ROLE_SCOPES[role]) & self.scopes

    def can(self, scope: str, tenant_id: uuid.UUID) -> bool:
        return scope in self.rights_in(tenant_id)

    def narrowed_to(self, tenant_ids: frozenset[uuid.UUID]) -> Principal:
        """The same caller acting in ``tenant_ids`` only (a request narrowed to one tenant by a header)."""
        if self.tenant_ids <= tenant_ids:
            return self
        kept = {t: role for t, role in self.memberships.items() if t in tenant_ids}
        return replace(self, memberships=MappingProxyType(kept))


async def resolve_principal(database: Database, token: VerifiedToken) -> Principal:
    """Memberships come from the database by (issuer, subject); claims never grant a tenant by themselves."""
    # The self-lookup scope makes row-level security admit exactly this principal's membership rows.
    scope = Scope(issuer=token.issuer, subject=token.subject)
    async with database.transaction(scope) as session:
        rows = await session.execute(
            select(Membership.tenant_id, Membership.role).where(
                Membership.issuer == token.issuer, Membership.subject == token.subject
            )
        )
        memberships = {tenant_id: Role(role) for tenant_id, role in rows}
        operator = await session.scalar(
            select(Operator.id).where(Operator.issuer == token.issuer, Operator.subject == token.subject)
        )
    return Principal(
        issuer=token.issuer,
        subject=token.subject,
        is_operator=operator is not None,
        # A read-only view: a frozen Principal's tenants cannot be changed by whoever holds it.
        memberships=MappingProxyType(memberships),
        scopes=token.scopes if token.scopes is not None else ALL_SCOPES,
        client_id=token.client_id,
    )
