"""Batch loaders for SLA data: a fixed number of statements per request tick, whatever the page size.

``load_clocks`` reads both clocks of a page of incidents with one statement for the contracts of their
tenants and one for the ledgers of the incidents some contract governs, then computes every clock in
memory at one instant, so ``responseSla`` and ``resolutionSla`` agree with each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from api.context import Context
from domain.columns import utcnow
from domain.sla import models as m
from domain.sla.service import contracts_by_id, contracts_in_force
from domain.sla.store import Clocks, governing, load_contracts, load_histories, read_clocks

# (tenant_id, incident_id, reported_at): the contract in force at reported_at governs the incident.
ClockKey = tuple[uuid.UUID, uuid.UUID, datetime]


async def load_clocks(ctx: Context, keys: Sequence[ClockKey]) -> list[Clocks | None]:
    now = utcnow()
    async with ctx.read() as session:
        contracts = await load_contracts(session, {tenant for tenant, _, _ in keys})
        governed = {(t, i) for t, i, reported in keys if governing(contracts.get(t, ()), reported)}
        histories = await load_histories(session, sorted(governed)) if governed else {}
    return [
        read_clocks(contracts[t], reported, histories.get((t, i), []), now) if (t, i) in governed else None
        for t, i, reported in keys
    ]


async def load_contracts_in_force(
    ctx: Context, tenant_ids: Sequence[uuid.UUID]
) -> list[m.SlaContract | None]:
    """The contract in force now for each tenant, in one statement."""
    async with ctx.read() as session:
        found = await contracts_in_force(session, tenant_ids, utcnow())
    return [found.get(t) for t in tenant_ids]


async def load_contracts_by_id(ctx: Context, ids: Sequence[uuid.UUID]) -> list[m.SlaContract | None]:
    """Contracts by id; rows outside the request's tenant scope come back as None (RLS)."""
    async with ctx.read() as session:
        return await contracts_by_id(session, ids)
