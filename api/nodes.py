"""``node``/``nodes``: one resolver per global-ID type, each seeing only what the caller may see."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence

from api.billing.queries import entry_node
from api.bulletins.queries import bulletin_node
from api.catalog.types import Service
from api.context import Context
from api.incidents import loaders as incident_loaders
from api.incidents.playbooks import model_node
from api.incidents.queries import readable_tenants
from api.incidents.reviews import review_node
from api.incidents.types import Incident, IncidentEvent
from api.integrations.queries import integration_key_node, webhook_endpoint_node
from api.relay import Node, parse_id
from api.sla.queries import contract_node
from api.tenancy.types import Tenant, load_tenants
from domain.catalog import models as catalog
from domain.catalog.service import services_by_id
from domain.incidents import models as incidents
from domain.incidents import reads
from domain.incidents.enums import Visibility
from domain.visibility import Part

NodeResolver = Callable[[Context, uuid.UUID], Awaitable[Node | None]]


async def _tenant(ctx: Context, key: uuid.UUID) -> Node | None:
    principal = ctx.actor()
    if key not in ctx.tenant_ids and not principal.is_operator:
        return None
    row = await ctx.loader(load_tenants).load(key)
    return Tenant.from_row(row) if row else None


async def _services_by_id(ctx: Context, keys: Sequence[uuid.UUID]) -> list[catalog.Service | None]:
    async with ctx.read() as session:
        return await services_by_id(session, keys)


async def _events_by_id(ctx: Context, keys: Sequence[uuid.UUID]) -> list[incidents.IncidentEvent | None]:
    async with ctx.read() as session:
        return await reads.events_by_id(session, keys)


async def _service(ctx: Context, key: uuid.UUID) -> Node | None:
    row = await ctx.loader(_services_by_id).load(key)
    return Service.from_row(row) if row else None


async def _incident(ctx: Context, key: uuid.UUID) -> Node | None:
    row = await ctx.loader(incident_loaders.load_incidents).load(key)
    if row is None or row.tenant_id not in readable_tenants(ctx):
        return None
    return Incident.from_row(row)


async def _event(ctx: Context, key: uuid.UUID) -> Node | None:
    row = await ctx.loader(_events_by_id).load(key)
    if row is None or row.tenant_id not in readable_tenants(ctx):
        return None
    if row.visibility is Visibility.INTERNAL and not ctx.sees(row.tenant_id, Part.INTERNAL_EVENTS):
        return None
    return IncidentEvent.from_row(row)


RESOLVERS: dict[str, NodeResolver] = {
    "Tenant": _tenant,
    "Service": _service,
    "Incident": _incident,
    "IncidentEvent": _event,
    "IncidentModel": model_node,
    "IncidentReview": review_node,
    "SlaContract": contract_node,
    "IntegrationKey": integration_key_node,
    "WebhookEndpoint": webhook_endpoint_node,
    "Bulletin": bulletin_node,
    "WorkLogEntry": entry_node,
}


async def resolve_node(ctx: Context, global_id: str) -> Node | None:
    parsed = parse_id(global_id)
    if parsed is None or parsed[0] not in RESOLVERS:
        return None
    return await RESOLVERS[parsed[0]](ctx, parsed[1])
