"""SLA contract use cases: create one (validated, never overlapping another), list them, find the one in force.

Creating a contract whose window starts in the past also makes it govern the incidents already reported
in that window: they are queued for the scanner (``incident_sla.next_due_at`` = now), which computes
their stored outcome and any alert they owe.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from domain import events
from domain.batches import one_each
from domain.columns import utcnow
from domain.db import Database, Scope, use_case
from domain.errors import ErrorCode, Problem, Refused
from domain.incidents.enums import HoldReason, Priority
from domain.incidents.models import Incident
from domain.sla.calendar import BusinessInterval, validate_business_hours
from domain.sla.ledger import CONTRACT_LOCK
from domain.sla.models import IncidentSla, SlaContract
from domain.sla.store import format_wall_time, parse_wall_time
from domain.tenancy.actor import Actor, require_role
from domain.tenancy.roles import Role
from domain.tenancy.roles import Scope as OAuthScope
from domain.timezones import is_iana_timezone

MAX_NAME = 200
MAX_MINUTES = 10 * 366 * 24 * 60  # ten years: anything longer is a typo
MAX_HOURS = 7 * 24
MAX_HOLIDAYS = 1000
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class TargetInput:
    priority: Priority
    response_minutes: int
    resolution_minutes: int


@dataclass(frozen=True)
class HoursInput:
    weekday: int
    start: str  # "HH:MM", local wall time
    end: str  # "HH:MM"; "24:00" is midnight at the end of the day


@dataclass(frozen=True)
class NewContract:
    tenant_id: uuid.UUID
    name: str
    targets: Sequence[TargetInput]
    timezone: str
    effective_from: datetime
    effective_to: datetime | None = None
    business_hours: Sequence[HoursInput] = ()
    holidays: Sequence[str] = ()  # "YYYY-MM-DD", local to the timezone
    pause_on: Sequence[HoldReason] = ()
    at_risk_percent: int = 75


@dataclass
class _Checked:
    problems: list[Problem] = field(default_factory=list)

    def add(self, message: str, *path: str) -> None:
        self.problems.append(Problem(ErrorCode.INVALID, message, path))


def _check_targets(new: NewContract, checked: _Checked) -> dict[str, dict[str, int]]:
    targets: dict[str, dict[str, int]] = {}
    if len(new.targets) > 2 * len(Priority):
        checked.add("give one target per priority", "targets")
        return targets
    for index, target in enumerate(new.targets):
        at = ("targets", str(index))
        if target.priority.value in targets:
            checked.add(f"{target.priority.value} has more than one target", *at, "priority")
            continue
        response, resolution = target.response_minutes, target.resolution_minutes
        for value, name in ((response, "response_minutes"), (resolution, "resolution_minutes")):
            if not 1 <= value <= MAX_MINUTES:
                checked.add(f"must be between 1 and {MAX_MINUTES} minutes", *at, name)
        if response > resolution:
            checked.add("the response target must not exceed the resolution target", *at, "response_minutes")
        targets[target.priority.value] = {"response": response, "resolution": resolution}
    missing = [p.value for p in Priority if p.value not in targets]
    if missing:
        checked.add(f"every priority needs targets; missing {', '.join(missing)}", "targets")
    return targets


def _check_hours(new: NewContract, checked: _Checked) -> list[BusinessInterval]:
    if len(new.business_hours) > MAX_HOURS:
        checked.add(f"at most {MAX_HOURS} intervals", "business_hours")
        return []
    intervals: list[BusinessInterval] = []
    for index, hours in enumerate(new.business_hours):
        at = ("business_hours", str(index))
        start, end = parse_wall_time(hours.start), parse_wall_time(hours.end)
        ok = True
        if not 1 <= hours.weekday <= 7:
            checked.add("must be an ISO weekday, 1 (Monday) to 7 (Sunday)", *at, "weekday")
            ok = False
        if start is None or hours.start == "24:00":
            checked.add('must be a local time "HH:MM" from 00:00 to 23:59', *at, "start")
            ok = False
        if end is None:
            checked.add('must be a local time "HH:MM" from 00:01 to 24:00', *at, "end")
            ok = False
        if not ok or start is None or end is None:
            continue
        interval = BusinessInterval(hours.weekday, start, end)
        if validate_business_hours([interval]):
            checked.add("the start must be before the end (24:00 ends the day)", *at, "end")
            continue
        intervals.append(interval)
    for problem in validate_business_hours(intervals):
        checked.add(problem, "business_hours")
    return intervals


def _check_holidays(new: NewContract, checked: _Checked) -> list[date]:
    if len(new.holidays) > MAX_HOLIDAYS:
        checked.add(f"at most {MAX_HOLIDAYS} holidays", "holidays")
        return []
    days: set[date] = set()
    for index, value in enumerate(new.holidays):
        try:
            if not ISO_DATE.fullmatch(value):
                raise ValueError(value)  # fromisoformat also reads week dates such as 2026-W01-1
            days.add(date.fromisoformat(value))
        except ValueError:
            checked.add('must be a date "YYYY-MM-DD"', "holidays", str(index))
    return sorted(days)


def _validated(new: NewContract) -> tuple[SlaContract, _Checked]:
    checked = _Checked()
    name = (new.name or "").strip()
    if not name:
        checked.add("must not be blank", "name")
    elif len(name) > MAX_NAME:
        checked.add(f"must be at most {MAX_NAME} characters", "name")
    targets = _check_targets(new, checked)
    timezone = (new.timezone or "").strip()
    if not is_iana_timezone(timezone):
        checked.add(f"unknown IANA timezone {timezone!r}", "timezone")
    intervals = _check_hours(new, checked)
    holidays = _check_holidays(new, checked)
    if not 1 <= new.at_risk_percent <= 100:
        checked.add("must be between 1 and 100", "at_risk_percent")
    if new.effective_to is not None and new.effective_to <= new.effective_from:
        checked.add("must be after effectiveFrom", "effective_to")
    row = SlaContract(
        tenant_id=new.tenant_id,
        id=uuid.uuid4(),
        name=name,
        timezone=timezone,
        targets=targets,
        business_hours=[
            {
                "weekday": i.weekday,
                "start": format_wall_time(i.start),
                "end": format_wall_time(i.end, end=True),
            }
            for i in sorted(intervals, key=lambda i: (i.weekday, i.start))
        ],
        holidays=holidays,
        pause_on=sorted({reason.value for reason in new.pause_on}),
        at_risk_percent=new.at_risk_percent,
        effective_from=new.effective_from,
        effective_to=new.effective_to,
    )
    return row, checked


@use_case
async def create_contract(db: Database, actor: Actor, new: NewContract) -> SlaContract:
    """A MANAGER (with ``sla:write``) adds a contract to a tenant; overlapping windows are refused."""
    require_role(actor, new.tenant_id, Role.MANAGER, OAuthScope.SLA_WRITE, what="creating an SLA contract")
    row, checked = _validated(new)
    if checked.problems:
        raise Refused(checked.problems)
    row.created_by = actor.subject
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        # One contract creation per tenant at a time, and none while a report of the tenant is in flight.
        await session.execute(
            select(func.pg_advisory_xact_lock(CONTRACT_LOCK, func.hashtext(str(new.tenant_id))))
        )
        clash = await session.scalar(
            select(SlaContract)
            .where(
                SlaContract.tenant_id == new.tenant_id,
                or_(SlaContract.effective_to.is_(None), SlaContract.effective_to > row.effective_from),
                literal(True) if row.effective_to is None else SlaContract.effective_from < row.effective_to,
            )
            .order_by(SlaContract.effective_from)
            .limit(1)
        )
        if clash is not None:
            until = clash.effective_to.isoformat() if clash.effective_to else "open-ended"
            raise Refused.one(
                ErrorCode.INVALID,
                f"overlaps the effective window of contract {clash.name!r}"
                f" ({clash.effective_from.isoformat()} to {until})",
                "effective_from",
            )
        now = utcnow()
        row.created_at = now
        session.add(row)
        await session.flush()
        await _queue_governed_incidents(session, row, now)
    return row


async def _queue_governed_incidents(session: AsyncSession, row: SlaContract, now: datetime) -> None:
    """Incidents already reported inside the new window: queued for the scanner to compute."""
    if row.effective_from > now:
        return
    window = [Incident.tenant_id == row.tenant_id, Incident.reported_at >= row.effective_from]
    if row.effective_to is not None:
        window.append(Incident.reported_at < row.effective_to)
    source = select(
        Incident.tenant_id, Incident.id, literal(row.id), literal(now, IncidentSla.next_due_at.type)
    ).where(and_(*window))
    statement = (
        pg_insert(IncidentSla)
        .from_select(["tenant_id", "incident_id", "contract_id", "next_due_at"], source)
        .on_conflict_do_nothing(index_elements=["tenant_id", "incident_id"])
    )
    result = await session.execute(statement)
    if getattr(result, "rowcount", 0):
        await events.announce_sla_due(session)


def readable_tenants(actor: Actor, tenant_ids: Iterable[uuid.UUID]) -> frozenset[uuid.UUID]:
    """Those of ``tenant_ids`` whose SLA data the actor may read: members whose token has ``sla:read``."""
    return frozenset(t for t in tenant_ids if actor.can(OAuthScope.SLA_READ, t))


async def list_contracts(db: Database, actor: Actor, tenant_ids: Iterable[uuid.UUID]) -> list[SlaContract]:
    """The contracts of those tenants the actor may read, by tenant and oldest window first."""
    readable = readable_tenants(actor, tenant_ids)
    if not readable:
        return []
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        rows = await session.scalars(
            select(SlaContract)
            .where(SlaContract.tenant_id.in_(sorted(readable)))
            .order_by(SlaContract.tenant_id, SlaContract.effective_from, SlaContract.id)
        )
        return list(rows)


def in_force_clause(at: datetime) -> list[ColumnElement[bool]]:
    return [
        SlaContract.effective_from <= at,
        or_(SlaContract.effective_to.is_(None), SlaContract.effective_to > at),
    ]


async def contracts_in_force(
    session: AsyncSession, tenant_ids: Sequence[uuid.UUID], at: datetime
) -> dict[uuid.UUID, SlaContract]:
    """The contract in force at ``at`` for each tenant that has one, in one statement."""
    if not tenant_ids:
        return {}
    rows = await session.scalars(
        select(SlaContract).where(SlaContract.tenant_id.in_(list(set(tenant_ids))), *in_force_clause(at))
    )
    return {row.tenant_id: row for row in rows}


async def contracts_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[SlaContract | None]:
    """Contracts by id; those outside the session's tenant scope are not found (row-level security)."""
    rows = await session.scalars(select(SlaContract).where(SlaContract.id.in_(ids)))
    return one_each(ids, rows, lambda row: row.id)
