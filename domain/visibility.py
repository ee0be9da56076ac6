"""The one visibility policy: who sees the provider's internal work, and what the others read instead.

Staff (AGENT, MANAGER) of a tenant have internal sight there. CUSTOMER members and anonymous visitors have
public sight: INTERNAL comments and events, the swarm, vendors, escalation flags and the like read as
``Hidden`` to them (declared per attribute and relation in the read model, ``domain/reads/``), and so does
any filter or count that would reveal them. Every reader asks this module: the GraphQL types, the batch
loaders, the compiled reads, subscriptions and webhooks.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from typing import Any

from domain.tenancy.actor import Actor
from domain.tenancy.roles import Role, at_least


class Sight(enum.Enum):
    INTERNAL = "internal"  # staff of the tenant
    PUBLIC = "public"  # customers of the tenant, anonymous visitors


class Hidden(enum.Enum):
    """What a viewer with public sight reads in place of an internal value."""

    NULL = "null"
    FALSE = "false"
    EMPTY = "empty"  # an empty list

    @property
    def value(self) -> Any:
        return {Hidden.NULL: None, Hidden.FALSE: False, Hidden.EMPTY: []}[self]


def sight_in(actor: Actor | None, tenant_id: uuid.UUID) -> Sight:
    if actor is None:
        return Sight.PUBLIC
    role = actor.role_in(tenant_id)
    return Sight.INTERNAL if role is not None and at_least(role, Role.AGENT) else Sight.PUBLIC


def uniform_sight(actor: Actor | None, tenant_ids: Iterable[uuid.UUID]) -> Sight | None:
    """The one sight the actor has in every one of ``tenant_ids``; None when it differs between them
    (staff of one tenant, customer of another)."""
    sights = {sight_in(actor, t) for t in tenant_ids}
    if len(sights) > 1:
        return None
    return sights.pop() if sights else Sight.PUBLIC
