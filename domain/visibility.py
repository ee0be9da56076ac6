"""The one visibility policy: who sees the provider's internal work, and what the others read instead.

Staff (AGENT, MANAGER) of a tenant have internal sight there. CUSTOMER members and anonymous visitors have
public sight: the provider's internal work stays inside the provider. To them these read as absent:
INTERNAL events and comments, the responders of a swarm, the incident model applied, the task
checklist, the vendor of a functional escalation and its ticket, the hierarchical escalation flag, and
the review; and a filter or a count on any of them is evaluated as the field reads to them, so that it can
never reveal what the field itself hides.

Every reader asks this module: the read model declares per attribute and relation what public sight
reads instead (``Hidden``, ``domain/reads/``), the GraphQL edge asks by ``Part``, and the compiled reads,
subscriptions and webhooks by ``Sight``.
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


class Part(enum.StrEnum):
    """The parts of an incident that only the provider's staff see."""

    INTERNAL_EVENTS = "INTERNAL_EVENTS"
    RESPONDERS = "RESPONDERS"
    MODEL = "MODEL"
    TASKS = "TASKS"
    VENDOR = "VENDOR"
    ESCALATION = "ESCALATION"
    REVIEW = "REVIEW"


def sight_in(actor: Actor | None, tenant_id: uuid.UUID) -> Sight:
    return Sight.INTERNAL if sees_internal(actor, tenant_id) else Sight.PUBLIC


def sees_internal(viewer: Actor | None, tenant_id: uuid.UUID) -> bool:
    """Whether ``viewer`` sees the tenant's internal work: staff members only, never anonymous callers."""
    if viewer is None:
        return False
    role = viewer.role_in(tenant_id)
    return role is not None and at_least(role, Role.AGENT)


def sees(viewer: Actor | None, tenant_id: uuid.UUID, part: Part) -> bool:
    """Whether ``viewer`` sees ``part`` of the tenant's incidents. Every hidden part follows one rule
    today; asking by part keeps each reader saying what it shows."""
    return sees_internal(viewer, tenant_id)


def internal_tenants(viewer: Actor | None, tenant_ids: Iterable[uuid.UUID]) -> frozenset[uuid.UUID]:
    """The tenants among ``tenant_ids`` whose internal work ``viewer`` sees."""
    return frozenset(t for t in tenant_ids if sees_internal(viewer, t))


def uniform_sight(actor: Actor | None, tenant_ids: Iterable[uuid.UUID]) -> Sight | None:
    """The one sight the actor has in every one of ``tenant_ids``; None when it differs between them
    (staff of one tenant, customer of another)."""
    sights = {sight_in(actor, t) for t in tenant_ids}
    if len(sights) > 1:
        return None
    return sights.pop() if sights else Sight.PUBLIC
