"""The tenant's billing months: which month an entry belongs to, holding a month open while an entry
changes, and closing a month for good.

A month is a month of the tenant's calendar (its timezone). Local dates are computed by PostgreSQL from
the tenant's row, exactly as the work report groups them, so an entry is always billed in the month the
report shows it in.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Date, DateTime, and_, cast, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.billing.models import BillingPeriod
from domain.columns import utcnow
from domain.db import Database, Scope, use_case
from domain.errors import ErrorCode, Refused, invalid, not_found
from domain.tenancy.actor import Actor, require_role
from domain.tenancy.models import Tenant
from domain.tenancy.roles import Role, at_least
from domain.tenancy.roles import Scope as OAuthScope

_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")


def parse_month(text: str, *field: str) -> date:
    """``"2026-03"`` as the first day of that month; anything else is INVALID."""
    match = _MONTH.match(text.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise invalid('must be a month written "YYYY-MM", e.g. "2026-03"', *field)
    return date(int(match.group(1)), int(match.group(2)), 1)


def month_label(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def closed_refusal(month: date, *field: str) -> Refused:
    return Refused.one(
        ErrorCode.PERIOD_CLOSED,
        f"the billing month {month_label(month)} is closed: its work entries can no longer change",
        *field,
    )


async def local_months(
    session: AsyncSession, tenant_id: uuid.UUID, instants: Sequence[datetime]
) -> list[date]:
    """The tenant's local month (its first day) of each instant, read in one statement."""
    columns = [
        cast(
            func.date_trunc("month", func.timezone(Tenant.timezone, literal(at, DateTime(timezone=True)))),
            Date,
        )
        for at in instants
    ]
    row = (await session.execute(select(*columns).where(Tenant.id == tenant_id))).one()
    return list(row)


async def hold_open(
    session: AsyncSession, tenant_id: uuid.UUID, months: Iterable[tuple[date, tuple[str, ...]]]
) -> None:
    """Refuse (PERIOD_CLOSED, on the field given with the month) unless every month is open, and keep them
    open until commit: a share lock on each month's row, taken in month order so two changes never wait
    for each other in a cycle. Closing a month waits for those locks, and a change that comes after the
    closing sees it."""
    fields: dict[date, tuple[str, ...]] = {}
    for month, field in months:
        fields.setdefault(month, field)
    for month in sorted(fields):
        await session.execute(
            pg_insert(BillingPeriod)
            .values(tenant_id=tenant_id, month=month)
            .on_conflict_do_nothing(index_elements=["tenant_id", "month"])
        )
        closed_at = await session.scalar(
            select(BillingPeriod.closed_at)
            .where(BillingPeriod.tenant_id == tenant_id, BillingPeriod.month == month)
            .with_for_update(read=True)
        )
        if closed_at is not None:
            raise closed_refusal(month, *fields[month])


@dataclass(frozen=True)
class ClosedMonth:
    tenant_id: uuid.UUID
    month: date
    closed_at: datetime
    closed_by: str

    @property
    def label(self) -> str:
        return month_label(self.month)


@use_case
async def close_billing_period(
    db: Database, actor: Actor, *, tenant_id: uuid.UUID, month: str
) -> ClosedMonth:
    """Freeze a month of the tenant's books (MANAGER with the ``manage`` scope), once it has ended in the
    tenant's timezone. Its entries can no longer be logged, corrected or withdrawn; closing is final."""
    first_day = parse_month(month, "month")
    require_role(actor, tenant_id, Role.MANAGER, OAuthScope.MANAGE, what="closing a billing period")
    now = utcnow()
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.id == tenant_id))
        if tenant is None:
            raise not_found("tenant", "tenant")
        (current,) = await local_months(session, tenant_id, [now])
        if first_day >= current:
            raise invalid(
                f"{month_label(first_day)} has not ended yet in the tenant's timezone ({tenant.timezone})",
                "month",
            )
        statement = (
            pg_insert(BillingPeriod)
            .values(tenant_id=tenant_id, month=first_day, closed_at=now, closed_by=actor.subject)
            .on_conflict_do_update(
                index_elements=["tenant_id", "month"],
                set_={"closed_at": now, "closed_by": actor.subject},
                where=BillingPeriod.closed_at.is_(None),
            )
            .returning(BillingPeriod.month)
        )
        if (await session.execute(statement)).first() is None:
            raise Refused.one(ErrorCode.PERIOD_CLOSED, f"{month_label(first_day)} is already closed", "month")
    return ClosedMonth(tenant_id=tenant_id, month=first_day, closed_at=now, closed_by=actor.subject)


async def closed_months(db: Database, actor: Actor, *, tenant_ids: Iterable[uuid.UUID]) -> list[ClosedMonth]:
    """The closed months of the tenants where the actor is staff, newest first (customers see none)."""
    staff = [t for t in tenant_ids if (role := actor.role_in(t)) is not None and at_least(role, Role.AGENT)]
    if not staff:
        return []
    period = BillingPeriod
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        rows = await session.execute(
            select(period.tenant_id, period.month, period.closed_at, period.closed_by)
            .where(and_(period.tenant_id.in_(staff), period.closed_at.is_not(None)))
            .order_by(period.month.desc(), period.tenant_id)
        )
        return [
            ClosedMonth(tenant_id=t, month=m, closed_at=at, closed_by=by or "")
            for t, m, at, by in rows
            if at is not None
        ]


__all__ = [
    "ClosedMonth",
    "close_billing_period",
    "closed_months",
    "closed_refusal",
    "hold_open",
    "local_months",
    "month_label",
    "parse_month",
]
