"""Who performs a use case, as the domain sees it. ``auth.Principal`` satisfies this protocol."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Protocol

from domain.errors import forbidden, not_found
from domain.tenancy.roles import Role, at_least
from domain.tenancy.roles import Scope as OAuthScope


class Actor(Protocol):
    @property
    def issuer(self) -> str: ...

    @property
    def subject(self) -> str: ...

    @property
    def is_operator(self) -> bool: ...

    @property
    def client_id(self) -> str | None: ...

    @property
    def tenant_ids(self) -> frozenset[uuid.UUID]: ...

    def role_in(self, tenant_id: uuid.UUID) -> Role | None: ...

    def can(self, scope: str, tenant_id: uuid.UUID) -> bool: ...


class OneTenantActor:
    """An actor confined to one tenant, with one role there and a fixed set of scopes: a system actor
    (an integration key) or a member acting through a signed link. Subclasses say which role and scopes;
    it is never an operator or an OAuth client."""

    tenant_id: uuid.UUID

    @property
    def acting_role(self) -> Role:
        raise NotImplementedError

    @property
    def acting_scopes(self) -> frozenset[str]:
        raise NotImplementedError

    @property
    def is_operator(self) -> bool:
        return False

    @property
    def client_id(self) -> str | None:
        return None

    @property
    def tenant_ids(self) -> frozenset[uuid.UUID]:
        return frozenset({self.tenant_id})

    def role_in(self, tenant_id: uuid.UUID) -> Role | None:
        return self.acting_role if tenant_id == self.tenant_id else None

    def can(self, scope: str, tenant_id: uuid.UUID) -> bool:
        return tenant_id == self.tenant_id and scope in self.acting_scopes


def require_role(actor: Actor, tenant_id: uuid.UUID, minimum: Role, scope: str, *, what: str) -> Role:
    """The actor's role in the tenant, if it is at least ``minimum`` and the token carries ``scope``.

    A tenant the actor does not belong to is NOT_FOUND, never FORBIDDEN: its existence must not leak.
    """
    role = actor.role_in(tenant_id)
    if role is None:
        raise not_found("tenant")
    if not at_least(role, minimum):
        raise forbidden(f"{what} needs the {minimum.value} role")
    if not actor.can(scope, tenant_id):
        raise forbidden(f"{what} needs the {scope} scope")
    return role


def managed_tenants(actor: Actor, tenant_ids: Iterable[uuid.UUID]) -> frozenset[uuid.UUID]:
    """The tenants among ``tenant_ids`` whose integrations the actor manages: a MANAGER there, with the
    manage scope. Integration keys and webhook endpoints are theirs to see, and no one else's."""
    return frozenset(
        t for t in tenant_ids if actor.role_in(t) is Role.MANAGER and actor.can(OAuthScope.MANAGE, t)
    )
