"""Reading billing data: an incident's work log and time spent, closed months, the work report.

What a caller may see is the domain's decision (``domain.billing``): entries and notes for staff only,
the report without AGENT grouping for customers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from api.billing.types import BillingPeriod, WorkLogEntry, WorkReport
from api.context import Context
from api.tenancy.resolve import find_tenant_id, tenant_report
from domain.billing import periods, report, worklog
from domain.incidents import models as m

IncidentKey = tuple[uuid.UUID, uuid.UUID]


async def _load_entries(ctx: Context, keys: Sequence[IncidentKey]) -> list[list[m.WorkLogEntry]]:
    if ctx.principal is None:  # anonymous readers never see internal work
        return [[] for _ in keys]
    async with ctx.read() as session:
        found = await worklog.entries_of(session, ctx.actor(), keys)
    return [found[k] for k in keys]


async def _load_time_spent(ctx: Context, keys: Sequence[IncidentKey]) -> list[int]:
    async with ctx.read() as session:
        totals = await worklog.minutes_spent(session, keys)
    return [totals.get(k, 0) for k in keys]


async def _load_entries_by_id(ctx: Context, keys: Sequence[uuid.UUID]) -> list[m.WorkLogEntry | None]:
    async with ctx.read() as session:
        found = await worklog.entries_by_id(session, ctx.actor(), keys)
    return [found.get(k) for k in keys]


async def work_log_of(ctx: Context, row: m.Incident) -> list[WorkLogEntry]:
    rows = await ctx.loader(_load_entries).load((row.tenant_id, row.id))
    return [WorkLogEntry.from_row(entry) for entry in rows]


async def time_spent_of(ctx: Context, row: m.Incident) -> int:
    return await ctx.loader(_load_time_spent).load((row.tenant_id, row.id))


async def entry_node(ctx: Context, key: uuid.UUID) -> WorkLogEntry | None:
    row = await ctx.loader(_load_entries_by_id).load(key)
    return WorkLogEntry.from_row(row) if row is not None else None


async def billing_periods(ctx: Context, tenant: str | None) -> list[BillingPeriod]:
    tenants = ctx.tenant_ids
    if tenant is not None:
        chosen = await find_tenant_id(ctx, tenant)
        tenants = tenants & {chosen} if chosen else frozenset()
    rows = await periods.closed_months(ctx.db, ctx.actor(), tenant_ids=tenants)
    return [BillingPeriod.from_row(row) for row in rows]


async def work_report(
    ctx: Context, tenant: str | None, start: date, end: date, group_by: list[report.WorkGrouping]
) -> WorkReport:
    """One tenant's report; refusals are top-level errors since the report itself is not nullable."""
    _, figures = await tenant_report(
        ctx,
        tenant,
        lambda tenant_id: report.work_report(
            ctx.db, ctx.actor(), tenant_id=tenant_id, start=start, end=end, group_by=group_by
        ),
    )
    return WorkReport.from_report(figures)
