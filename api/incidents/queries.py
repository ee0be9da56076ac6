"""Reading incidents: filtered, ordered, keyset-paginated listings and lookups."""

from __future__ import annotations

import enum
import re
import uuid
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import Select, false, func, select

from api.context import Context
from api.errors import ClientError
from api.incidents.types import Incident, IncidentConnection, IncidentEdge, IncidentStatus, Priority
from api.relay import PageRequest, SortKey, decode_id, read_page
from api.tenancy.resolve import find_tenant_id, resolve_tenant
from domain import visibility
from domain.errors import Refused
from domain.incidents import models as m
from domain.tenancy.roles import Scope as OAuthScope


@strawberry.input(name="IncidentFilter")
class IncidentFilter:
    tenant: strawberry.ID | None = None
    status: list[IncidentStatus] | None = None  # type: ignore[valid-type]
    priority: list[Priority] | None = None  # type: ignore[valid-type]
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


_ORDER_COLUMNS = {
    IncidentOrderField.REPORTED_AT: m.Incident.reported_at,
    IncidentOrderField.UPDATED_AT: m.Incident.updated_at,
    IncidentOrderField.PRIORITY: m.Incident.priority,
    IncidentOrderField.NUMBER: m.Incident.number,
}

# The same expression as the full-text index of the migration, so the planner can use it.
SEARCH_DOCUMENT = func.to_tsvector(
    "simple", func.coalesce(m.Incident.title, "") + " " + func.coalesce(m.Incident.description, "")
)


def readable_tenants(ctx: Context) -> frozenset[uuid.UUID]:
    """Tenants whose incidents the caller may read: membership and the incidents:read scope."""
    principal = ctx.actor()
    return frozenset(t for t in ctx.tenant_ids if principal.can(OAuthScope.INCIDENTS_READ, t))


async def filtered(ctx: Context, spec: IncidentFilter | None) -> Select[Any]:
    tenants = readable_tenants(ctx)
    spec = spec or IncidentFilter()
    if spec.tenant is not None:
        chosen = await find_tenant_id(ctx, spec.tenant)
        tenants = tenants & {chosen} if chosen else frozenset()
    statement = select(m.Incident).where(m.Incident.tenant_id.in_(tenants))
    if spec.status:
        statement = statement.where(m.Incident.status.in_(spec.status))
    if spec.priority:
        statement = statement.where(m.Incident.priority.in_(spec.priority))
    if spec.service_id is not None:
        # A malformed id names no service; compared as None it would turn into "service IS NULL".
        service_id = decode_id(spec.service_id, "Service")
        statement = statement.where(m.Incident.service_id == service_id if service_id else false())
    if spec.major is not None:
        statement = statement.where(m.Incident.major.is_(spec.major))
    if spec.assignee is not None:
        statement = statement.where(m.Incident.assignee == spec.assignee)
    if spec.escalated_to_managers is not None:
        # Evaluated as the flag reads to the caller: a customer's "true" matches nothing, never a hidden flag.
        statement = statement.where(
            visibility.filter_on_hidden_flag(
                ctx.principal,
                tenants,
                m.Incident.escalated_to_managers,
                m.Incident.tenant_id,
                spec.escalated_to_managers,
            )
        )
    if spec.sla_breached is not None:
        statement = statement.where(m.Incident.sla_breached.is_(spec.sla_breached))
    if spec.search:
        words = spec.search.strip()[:200]
        if words:
            statement = statement.where(SEARCH_DOCUMENT.op("@@")(func.plainto_tsquery("simple", words)))
    if spec.reported_after is not None:
        statement = statement.where(m.Incident.reported_at >= spec.reported_after)
    if spec.reported_before is not None:
        statement = statement.where(m.Incident.reported_at < spec.reported_before)
    return statement


async def incident_connection(
    ctx: Context,
    request: PageRequest,
    spec: IncidentFilter | None,
    order: IncidentOrder | None,
) -> IncidentConnection:
    statement = await filtered(ctx, spec)
    field = order.field if order else IncidentOrderField.REPORTED_AT
    descending = order.direction is OrderDirection.DESC if order else True
    sort = SortKey((_ORDER_COLUMNS[field], m.Incident.id), descending=descending)

    page = await read_page(ctx.read, statement, sort, request)
    edges = [
        IncidentEdge(cursor=c, node=Incident.from_row(r))
        for r, c in zip(page.rows, page.cursors, strict=True)
    ]
    return IncidentConnection(edges=edges, page_info=page.page_info(), count=page.count)


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
        row = await session.scalar(
            select(m.Incident).where(
                m.Incident.tenant_id == tenant_id, m.Incident.number == int(match.group(1))
            )
        )
    return Incident.from_row(row) if row is not None else None
