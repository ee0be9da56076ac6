"""Reading incidents: filtered, ordered, keyset-paginated listings and lookups."""

from __future__ import annotations

import enum
import re
import uuid
from datetime import datetime

import strawberry

from api.context import Context
from api.errors import ClientError
from api.incidents.types import Incident, IncidentConnection, IncidentStatus, Priority
from api.relay import PageRequest, decode_id, read_page
from api.tenancy.resolve import find_tenant_id, resolve_tenant
from domain.errors import Refused
from domain.incidents import reads
from domain.incidents.queries import NEWEST_FIRST, IncidentQuery, sort_by
from domain.tenancy.roles import Scope as OAuthScope
from domain.visibility import Sight, sight_in


@strawberry.input(name="IncidentFilter")
class IncidentFilter:
    tenant: strawberry.ID | None = None
    status: list[IncidentStatus] | None = None
    priority: list[Priority] | None = None
    service_id: strawberry.ID | None = None
    major: bool | None = None
    assignee: str | None = None
    sla_breached: bool | None = None
    escalated_to_managers: bool | None = strawberry.field(
        default=None, description="Hierarchically escalated: flagged for the managers' attention"
    )
    search: str | None = strawberry.field(default=None, description="Words in title or description")
    reported_after: datetime | None = None
    reported_before: datetime | None = None


@strawberry.enum(name="IncidentOrderField")
class IncidentOrderField(enum.Enum):
    REPORTED_AT = "REPORTED_AT"
    UPDATED_AT = "UPDATED_AT"
    PRIORITY = "PRIORITY"
    NUMBER = "NUMBER"


@strawberry.enum(name="OrderDirection")
class OrderDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input(name="IncidentOrder")
class IncidentOrder:
    field: IncidentOrderField
    direction: OrderDirection


def readable_tenants(ctx: Context) -> frozenset[uuid.UUID]:
    """Tenants whose incidents the caller may read: membership and the incidents:read scope."""
    principal = ctx.actor()
    return frozenset(t for t in ctx.tenant_ids if principal.can(OAuthScope.INCIDENTS_READ, t))


def staff_tenants(ctx: Context) -> frozenset[uuid.UUID]:
    """Tenants where the caller has internal sight."""
    return frozenset(t for t in ctx.tenant_ids if sight_in(ctx.principal, t) is Sight.INTERNAL)


async def incident_query(
    ctx: Context, spec: IncidentFilter | None, order: IncidentOrder | None
) -> IncidentQuery:
    """The listing a client asked for, in the domain's terms (shared with compiled reads)."""
    tenants = readable_tenants(ctx)
    spec = spec or IncidentFilter()
    if spec.tenant is not None:
        chosen = await find_tenant_id(ctx, spec.tenant)
        tenants = tenants & {chosen} if chosen else frozenset()
    service_id = decode_id(spec.service_id, "Service") if spec.service_id is not None else None
    return IncidentQuery(
        tenants=tenants,
        staff_tenants=staff_tenants(ctx),
        statuses=tuple(spec.status) if spec.status else None,
        priorities=tuple(spec.priority) if spec.priority else None,
        service_id=service_id,
        # A malformed id names no service; compared as None it would turn into "service IS NULL".
        no_service=spec.service_id is not None and service_id is None,
        major=spec.major,
        assignee=spec.assignee,
        sla_breached=spec.sla_breached,
        escalated_to_managers=spec.escalated_to_managers,
        search=spec.search,
        reported_after=spec.reported_after,
        reported_before=spec.reported_before,
        sort=sort_by(order.field.value, order.direction is OrderDirection.DESC) if order else NEWEST_FIRST,
    )


async def incident_connection(
    ctx: Context,
    request: PageRequest,
    spec: IncidentFilter | None,
    order: IncidentOrder | None,
) -> IncidentConnection:
    query = await incident_query(ctx, spec, order)
    page = await read_page(ctx.read, reads.incident_listing(query), request)
    return IncidentConnection.of_page(page, Incident.from_row)


NUMBER = re.compile(r"^(?:INC-)?0*(\d{1,12})$", re.IGNORECASE)


async def incident_by_number(ctx: Context, tenant: str | None, number: str) -> Incident | None:
    match = NUMBER.match(number.strip())
    if match is None:
        return None
    try:
        tenant_id = await resolve_tenant(ctx, tenant)
    except Refused as refused:
        raise ClientError(refused.problems[0].message, refused.problems[0].code.value) from None
    if tenant_id not in readable_tenants(ctx):
        return None
    async with ctx.read() as session:
        row = await reads.incident_by_number(session, tenant_id, int(match.group(1)))
    return Incident.from_row(row) if row is not None else None
