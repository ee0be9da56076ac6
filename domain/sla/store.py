"""Reading the SLA tables in batches, and turning rows into the pure clock's inputs and back.

Every loader here is one statement whatever the number of incidents, so a page of incidents, a scanner
batch and a single change all cost the same fixed number of round trips.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from domain.incidents.enums import HoldReason, Priority
from domain.sla.calendar import US_PER_MINUTE, BusinessInterval, Calendar
from domain.sla.clock import ClockReading, Contract, HistoryEntry, Target, sla_clocks
from domain.sla.models import ClockHistoryEntry, IncidentSla, SlaContract
from domain.sla.outcome import Noted, next_due

IncidentKey = tuple[uuid.UUID, uuid.UUID]  # (tenant_id, incident_id)

END_OF_DAY = "24:00"


def parse_wall_time(value: str) -> time | None:
    """``"HH:MM"`` (00:00 to 23:59, or "24:00" for midnight at the end of the day, read as 00:00) or None."""
    if value == END_OF_DAY:
        return time(0)
    digits = value[:2] + value[3:]
    if len(value) != 5 or value[2] != ":" or not (digits.isascii() and digits.isdigit()):
        return None
    hour, minute = int(value[:2]), int(value[3:])
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def format_wall_time(moment: time, *, end: bool = False) -> str:
    """``"HH:MM"``; midnight as an end is ``"24:00"``."""
    if end and moment == time(0):
        return END_OF_DAY
    return f"{moment.hour:02d}:{moment.minute:02d}"


def intervals_of(row: SlaContract) -> tuple[BusinessInterval, ...]:
    found: list[BusinessInterval] = []
    for item in row.business_hours:
        start, end = parse_wall_time(str(item["start"])), parse_wall_time(str(item["end"]))
        if start is not None and end is not None:
            found.append(BusinessInterval(int(item["weekday"]), start, end))
    return tuple(found)


def targets_of(row: SlaContract) -> dict[Priority, Target]:
    return {
        Priority(priority): Target(int(value["response"]), int(value["resolution"]))
        for priority, value in row.targets.items()
    }


def contract_of(row: SlaContract) -> Contract:
    """The pure clock's view of a contract row."""
    calendar = Calendar(row.timezone, intervals_of(row), frozenset(row.holidays or ()))
    return Contract(
        calendar=calendar,
        targets=targets_of(row),
        pause_on=frozenset(HoldReason(reason) for reason in row.pause_on or ()),
        at_risk_percent=row.at_risk_percent,
    )


def in_force(row: SlaContract, at: datetime) -> bool:
    return row.effective_from <= at and (row.effective_to is None or at < row.effective_to)


def governing(contracts: Iterable[SlaContract], reported_at: datetime) -> SlaContract | None:
    """The contract in force at ``reported_at`` among one tenant's contracts (windows never overlap)."""
    return next((row for row in contracts if in_force(row, reported_at)), None)


async def load_histories(
    session: AsyncSession, keys: Sequence[IncidentKey]
) -> dict[IncidentKey, list[HistoryEntry]]:
    """The ledgers of many incidents, each in recording order, in one statement."""
    found: dict[IncidentKey, list[HistoryEntry]] = defaultdict(list)
    if not keys:
        return found
    entry = ClockHistoryEntry
    rows = await session.execute(
        select(entry.tenant_id, entry.incident_id, entry.at, entry.kind, entry.priority, entry.hold_reason)
        .where(tuple_(entry.tenant_id, entry.incident_id).in_(list(keys)))
        .order_by(entry.tenant_id, entry.incident_id, entry.at, entry.id)
    )
    for tenant_id, incident_id, at, kind, priority, hold_reason in rows:
        found[(tenant_id, incident_id)].append(HistoryEntry(at, kind, priority, hold_reason))
    return found


async def load_contracts(
    session: AsyncSession, tenant_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[SlaContract]]:
    """Every contract of the given tenants, oldest window first, in one statement."""
    wanted = sorted(set(tenant_ids))
    found: dict[uuid.UUID, list[SlaContract]] = defaultdict(list)
    if not wanted:
        return found
    rows = await session.scalars(
        select(SlaContract)
        .where(SlaContract.tenant_id.in_(wanted))
        .order_by(SlaContract.tenant_id, SlaContract.effective_from)
    )
    for row in rows:
        found[row.tenant_id].append(row)
    return found


@dataclass(frozen=True)
class Clocks:
    """Both clocks of one incident under its governing contract."""

    contract: SlaContract
    response: ClockReading | None
    resolution: ClockReading | None


def read_clocks(
    contracts: Iterable[SlaContract], reported_at: datetime, history: Sequence[HistoryEntry], now: datetime
) -> Clocks | None:
    """The clocks of an incident reported at ``reported_at``; None when no contract governs it."""
    row = governing(contracts, reported_at)
    if row is None:
        return None
    response, resolution = sla_clocks(contract_of(row), history, now)
    return Clocks(row, response, resolution)


def noted_of(row: IncidentSla) -> Noted:
    return Noted(
        response_at_risk=row.response_at_risk_noted,
        response_breached=row.response_breach_noted,
        resolution_at_risk=row.resolution_at_risk_noted,
        resolution_breached=row.resolution_breach_noted,
    )


def _us(reading: ClockReading) -> int:
    delta = reading.elapsed
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def store_outcome(row: IncidentSla, clocks: Clocks | None, noted: Noted, now: datetime) -> None:
    """Write the clocks' outcome, the alerts already recorded and the next due instant into ``row``."""
    response = clocks.response if clocks else None
    resolution = clocks.resolution if clocks else None
    row.contract_id = clocks.contract.id if clocks else None
    reading = response or resolution
    row.priority = reading.priority if reading else None
    row.response_state = response.state if response else None
    row.response_target_minutes = response.target_minutes if response else None
    row.response_elapsed_us = _us(response) if response else 0
    row.response_stopped = response.stopped if response else False
    row.response_cancelled = response.cancelled if response else False
    row.response_breached = response.breached if response else False
    row.resolution_state = resolution.state if resolution else None
    row.resolution_target_minutes = resolution.target_minutes if resolution else None
    row.resolution_elapsed_us = _us(resolution) if resolution else 0
    row.resolution_stopped = resolution.stopped if resolution else False
    row.resolution_cancelled = resolution.cancelled if resolution else False
    row.resolution_breached = resolution.breached if resolution else False
    row.response_at_risk_noted = noted.response_at_risk
    row.response_breach_noted = noted.response_breached
    row.resolution_at_risk_noted = noted.resolution_at_risk
    row.resolution_breach_noted = noted.resolution_breached
    row.next_due_at = next_due(response, resolution, noted)
    row.computed_at = now


def minutes(elapsed_us: int) -> float:
    return elapsed_us / US_PER_MINUTE


__all__ = [
    "END_OF_DAY",
    "Clocks",
    "IncidentKey",
    "contract_of",
    "format_wall_time",
    "governing",
    "in_force",
    "intervals_of",
    "load_contracts",
    "load_histories",
    "minutes",
    "noted_of",
    "parse_wall_time",
    "read_clocks",
    "store_outcome",
    "targets_of",
]
