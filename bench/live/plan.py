"""Who subscribes to what: one ``Spec`` per WebSocket connection, each with one subscription.

A spec says everything its client process needs (protocol, token, document, variables) and everything
the tally needs to know what it should have received (kind, tenant, role). The same plan decides, by
index, which server process and which client process hold the connection.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

TRANSPORT = "graphql-transport-ws"
LEGACY = "graphql-ws"


class Kind(enum.StrEnum):
    EVENTS = "incidentEvents"
    STATUS = "serviceStatusChanged"
    PUBLIC = "publicStatusChanged"


class Role(enum.StrEnum):
    AGENT = "AGENT"
    CUSTOMER = "CUSTOMER"
    ANONYMOUS = "anonymous"


# The single-tenant documents the benchmark always had (``--nested`` picks the second).
PLAIN_EVENTS = "subscription Events($tenant: ID) { incidentEvents(tenant: $tenant) { message } }"
NESTED_EVENTS = (
    "subscription Events($tenant: ID) { incidentEvents(tenant: $tenant) { message kind at"
    " incident { number title status priority service { name } } } }"
)
# What a portal's timeline writes: the event, who did it, its incident and the incident's service.
PORTAL_EVENTS = (
    "subscription Events($tenant: ID) { incidentEvents(tenant: $tenant) { message kind at actor"
    " incident { number title status service { name } } } }"
)
STATUS_CHANGES = (
    "subscription Statuses($tenant: ID) { serviceStatusChanged(tenant: $tenant) { at status"
    " service { name status } } }"
)
PUBLIC_PAGE = (
    "subscription Page($slug: String!) { publicStatusChanged(tenantSlug: $slug) { tenantName overall"
    " services { name status } activeBulletins { title phase updatedAt } } }"
)


@dataclass(frozen=True)
class Spec:
    """One subscriber: a connection speaking ``protocol`` with one subscription of ``kind``."""

    index: int
    protocol: str
    kind: Kind
    role: Role
    tenant: int
    query: str
    variables: dict[str, Any]

    def token_of(self, tokens: dict[tuple[int, Role], str]) -> str | None:
        return None if self.role is Role.ANONYMOUS else tokens[(self.tenant, self.role)]


def tenant_slug(tenant: int, tenants: int) -> str:
    """``bench`` alone, as the benchmark always named it, or ``bench-0``... when there are several."""
    return "bench" if tenants == 1 else f"bench-{tenant}"


def single(count: int, nested: bool) -> list[Spec]:
    """The original benchmark: AGENTs of one tenant on graphql-transport-ws, all following its events."""
    query = NESTED_EVENTS if nested else PLAIN_EVENTS
    variables = {"tenant": tenant_slug(0, 1)}
    return [Spec(i, TRANSPORT, Kind.EVENTS, Role.AGENT, 0, query, variables) for i in range(count)]


# Ten subscribers in a row, as a provider's audience might split: most follow the timeline, staff and
# customers alike, some a status board, some the anonymous public page.
_MIX: list[tuple[Kind, Role]] = [
    (Kind.EVENTS, Role.AGENT),
    (Kind.EVENTS, Role.AGENT),
    (Kind.EVENTS, Role.AGENT),
    (Kind.EVENTS, Role.CUSTOMER),
    (Kind.EVENTS, Role.CUSTOMER),
    (Kind.EVENTS, Role.CUSTOMER),
    (Kind.STATUS, Role.AGENT),
    (Kind.STATUS, Role.CUSTOMER),
    (Kind.PUBLIC, Role.ANONYMOUS),
    (Kind.PUBLIC, Role.ANONYMOUS),
]


def mixed(count: int, tenants: int) -> list[Spec]:
    """Subscribers spread evenly over tenants, then over the ten kinds of ``_MIX``, then over both
    subprotocols, so every tenant has every kind on both protocols once there are 20 x tenants."""
    specs = []
    for i in range(count):
        tenant = i % tenants
        kind, role = _MIX[(i // tenants) % len(_MIX)]
        protocol = TRANSPORT if (i // (tenants * len(_MIX))) % 2 == 0 else LEGACY
        slug = tenant_slug(tenant, tenants)
        if kind is Kind.EVENTS:
            query, variables = PORTAL_EVENTS, {"tenant": slug}
        elif kind is Kind.STATUS:
            query, variables = STATUS_CHANGES, {"tenant": slug}
        else:
            query, variables = PUBLIC_PAGE, {"slug": slug}
        specs.append(Spec(i, protocol, kind, role, tenant, query, variables))
    return specs
