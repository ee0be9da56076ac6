"""What a CUSTOMER may see: the one policy every reader asks.

The provider's internal work stays inside the provider. For a CUSTOMER member (and for anyone outside
the tenant) these read as absent: INTERNAL events and comments, the responders of a swarm, the incident
model applied, the task checklist, the vendor of a functional escalation and its ticket, the
hierarchical escalation flag, and the review. The GraphQL edge, subscriptions and webhooks ask this
module rather than deciding for themselves, and a filter on a hidden field is evaluated as the field
reads to the caller, so that a filter or a count can never reveal what the field itself hides.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, false, not_

from domain.tenancy.actor import Actor
from domain.tenancy.roles import Role, at_least


class Hidden(enum.StrEnum):
    """The parts of an incident that only the provider's staff (AGENT and MANAGER) see."""

    INTERNAL_EVENTS = "INTERNAL_EVENTS"
    RESPONDERS = "RESPONDERS"
    MODEL = "MODEL"
    TASKS = "TASKS"
    VENDOR = "VENDOR"
    ESCALATION = "ESCALATION"
    REVIEW = "REVIEW"


def sees_internal(viewer: Actor | None, tenant_id: uuid.UUID) -> bool:
    """Whether ``viewer`` sees the tenant's internal work: staff members only, never anonymous callers."""
    if viewer is None:
        return False
    role = viewer.role_in(tenant_id)
    return role is not None and at_least(role, Role.AGENT)


def sees(viewer: Actor | None, tenant_id: uuid.UUID, part: Hidden) -> bool:
    """Whether ``viewer`` sees ``part`` of the tenant's incidents. Every hidden part follows one rule
    today; asking by part keeps each reader saying what it shows."""
    return sees_internal(viewer, tenant_id)


def internal_tenants(viewer: Actor | None, tenant_ids: Iterable[uuid.UUID]) -> frozenset[uuid.UUID]:
    """The tenants among ``tenant_ids`` whose internal work ``viewer`` sees."""
    return frozenset(t for t in tenant_ids if sees_internal(viewer, t))


def flag_as_read(
    viewer: Actor | None,
    tenant_ids: Iterable[uuid.UUID],
    flag: Any,
    tenant_column: Any,
) -> ColumnElement[bool]:
    """A hidden boolean column as ``viewer`` reads it: true only where it is set and the viewer sees the
    tenant's internal work, false everywhere else."""
    visible = internal_tenants(viewer, tenant_ids)
    if not visible:
        return false()
    return and_(flag.is_(True), tenant_column.in_(visible))


def filter_on_hidden_flag(
    viewer: Actor | None,
    tenant_ids: Iterable[uuid.UUID],
    flag: Any,
    tenant_column: Any,
    wanted: bool,
) -> ColumnElement[bool]:
    """The condition ``flag = wanted``, evaluated on the flag as the viewer reads it."""
    read = flag_as_read(viewer, tenant_ids, flag, tenant_column)
    return read if wanted else not_(read)
