"""Roles, scopes and the rights they grant: who may do what, independent of how they authenticated."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    CUSTOMER = "CUSTOMER"
    AGENT = "AGENT"
    MANAGER = "MANAGER"


class Scope(enum.StrEnum):
    """OAuth scopes. A token's rights are its role's rights intersected with its scopes."""

    INCIDENTS_READ = "incidents:read"
    INCIDENTS_WRITE = "incidents:write"
    BULLETINS_READ = "bulletins:read"
    BULLETINS_WRITE = "bulletins:write"
    SLA_READ = "sla:read"
    SLA_WRITE = "sla:write"
    ALERTS_WRITE = "alerts:write"
    # Catalogue and integrations: services, incident models, integration keys, webhook endpoints.
    MANAGE = "manage"


ALL_SCOPES: frozenset[str] = frozenset(s.value for s in Scope)

ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.CUSTOMER: frozenset(
        {Scope.INCIDENTS_READ, Scope.INCIDENTS_WRITE, Scope.BULLETINS_READ, Scope.SLA_READ}
    ),
    Role.AGENT: frozenset(
        {
            Scope.INCIDENTS_READ,
            Scope.INCIDENTS_WRITE,
            Scope.BULLETINS_READ,
            Scope.BULLETINS_WRITE,
            Scope.SLA_READ,
            Scope.ALERTS_WRITE,
        }
    ),
    Role.MANAGER: frozenset(Scope),
}

# Higher roles can do everything lower ones can.
ROLE_RANK: dict[Role, int] = {Role.CUSTOMER: 0, Role.AGENT: 1, Role.MANAGER: 2}


def at_least(role: Role, minimum: Role) -> bool:
    return ROLE_RANK[role] >= ROLE_RANK[minimum]
