"""Reading SLA data: contracts, an incident's clocks, a tenant's report.

SLA data is shown to members of the tenant whose token carries ``sla:read`` (CUSTOMER members included:
they may read their own tenant's contract, clocks and report); to anyone else it is absent (null or
empty), exactly as for a tenant without a contract.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from api.context import Context
from api.sla import loaders
from api.sla.types import SlaClock, SlaContract, SlaReport
from api.tenancy.resolve import find_tenant_id, tenant_report
from domain.incidents.models import Incident
from domain.sla import report, service
from domain.sla.store import Clocks


def can_read(ctx: Context, tenant_id: uuid.UUID) -> bool:
    return ctx.principal is not None and bool(service.readable_tenants(ctx.principal, [tenant_id]))


async def incident_clocks(ctx: Context, row: Incident) -> Clocks | None:
    if not can_read(ctx, row.tenant_id):
        return None
    return await ctx.loader(loaders.load_clocks).load((row.tenant_id, row.id, row.reported_at))


async def response_sla(ctx: Context, row: Incident) -> SlaClock | None:
    clocks = await incident_clocks(ctx, row)
    return SlaClock.from_reading(clocks.response) if clocks and clocks.response else None


async def resolution_sla(ctx: Context, row: Incident) -> SlaClock | None:
    clocks = await incident_clocks(ctx, row)
    return SlaClock.from_reading(clocks.resolution) if clocks and clocks.resolution else None


async def tenant_contract(ctx: Context, tenant_id: uuid.UUID) -> SlaContract | None:
    """The contract in force now for the tenant, if any and if the caller may read it."""
    if not can_read(ctx, tenant_id):
        return None
    row = await ctx.loader(loaders.load_contracts_in_force).load(tenant_id)
    return SlaContract.from_row(row) if row is not None else None


async def contract_node(ctx: Context, key: uuid.UUID) -> SlaContract | None:
    row = await ctx.loader(loaders.load_contracts_by_id).load(key)
    if row is None or not can_read(ctx, row.tenant_id) or row.tenant_id not in ctx.tenant_ids:
        return None
    return SlaContract.from_row(row)


async def sla_contracts(ctx: Context, tenant: str | None) -> list[SlaContract]:
    """The contracts of the caller's tenants (or of the one named), oldest window first."""
    tenants = ctx.tenant_ids
    if tenant is not None:
        chosen = await find_tenant_id(ctx, tenant)
        tenants = tenants & {chosen} if chosen else frozenset()
    rows = await service.list_contracts(ctx.db, ctx.actor(), tenants)
    return [SlaContract.from_row(row) for row in rows]


async def sla_report(ctx: Context, tenant: str | None, start: datetime, end: datetime) -> SlaReport:
    """The report of one tenant; refusals are top-level errors since the report itself is not nullable."""
    _, figures = await tenant_report(
        ctx,
        tenant,
        lambda tenant_id: report.sla_report(ctx.db, ctx.actor(), tenant_id=tenant_id, start=start, end=end),
    )
    return SlaReport.from_report(figures)
