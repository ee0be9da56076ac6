"""The clock ledger: what an incident's change means for its SLA clocks, and writing it down.

``transition_entries`` is pure: it maps an incident's clock-relevant facts before and after a change
(status, responded, hold reason, priority) to the ledger entries of :mod:`domain.sla.clock`. Every use
case that changes those facts calls ``record_transition`` once, in its own transaction, after applying the
change: report (START), every status step (RESPOND, HOLD, RESUME, RESOLVE, REOPEN, CLOSE, CANCEL) and a
priority change (PRIORITY). The entries are appended, and the incident's stored outcome
(``incident_sla``) is recomputed from the whole ledger so that reports and the scanner see it at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from domain.columns import utcnow
from domain.incidents.enums import HoldReason, IncidentStatus, Priority
from domain.incidents.models import Incident
from domain.sla.clock import HistoryKind
from domain.sla.models import ClockHistoryEntry, IncidentSla
from domain.sla.outcome import Noted
from domain.sla.store import (
    governing,
    load_contracts,
    load_histories,
    noted_of,
    read_clocks,
    store_outcome,
)

S = IncidentStatus

# Contract creation takes this lock exclusively per tenant, a report shares it: a report then either
# commits before the contract's backfill reads incidents, or sees the committed contract itself.
CONTRACT_LOCK = 0x534C41  # "SLA"


@dataclass(frozen=True, slots=True)
class ClockFacts:
    """What the clocks depend on, as it stands on an incident."""

    status: IncidentStatus
    responded: bool
    hold_reason: HoldReason | None
    priority: Priority


@dataclass(frozen=True, slots=True)
class Entry:
    kind: HistoryKind
    priority: Priority | None = None
    hold_reason: HoldReason | None = None


def clock_facts(incident: Incident, *, as_loaded: bool = False) -> ClockFacts:
    """The incident's clock facts. ``as_loaded``: with the priority as last loaded or flushed, for a
    snapshot taken just before a step whose use case may already have re-classified the incident."""
    priority = incident.priority
    if as_loaded:
        changed = sa_inspect(incident).attrs.priority.history.deleted
        if changed:
            priority = changed[0]
    return ClockFacts(
        status=incident.status,
        responded=incident.responded_at is not None,
        hold_reason=incident.on_hold_reason if incident.status is S.ON_HOLD else None,
        priority=priority,
    )


def transition_entries(before: ClockFacts | None, after: ClockFacts) -> list[Entry]:
    """The ledger entries of a change from ``before`` (None: the incident is new) to ``after``, in order."""
    entries: list[Entry] = []
    if before is None:
        entries.append(Entry(HistoryKind.START, priority=after.priority))
        before = ClockFacts(S.NEW, False, None, after.priority)
    if after.priority is not before.priority:
        entries.append(Entry(HistoryKind.PRIORITY, priority=after.priority))
    if after.responded and not before.responded:
        entries.append(Entry(HistoryKind.RESPOND))
    old, new = before.status, after.status
    if new is S.ON_HOLD and (old is not S.ON_HOLD or after.hold_reason is not before.hold_reason):
        entries.append(Entry(HistoryKind.HOLD, hold_reason=after.hold_reason))
    elif old is S.ON_HOLD and new in (S.NEW, S.IN_PROGRESS):
        entries.append(Entry(HistoryKind.RESUME))
    elif new is S.RESOLVED and old is not S.RESOLVED:
        entries.append(Entry(HistoryKind.RESOLVE))
    elif old is S.RESOLVED and new in (S.NEW, S.IN_PROGRESS, S.ON_HOLD):
        entries.append(Entry(HistoryKind.REOPEN))
        if new is S.ON_HOLD:
            entries.append(Entry(HistoryKind.HOLD, hold_reason=after.hold_reason))
    elif new is S.CLOSED and old is not S.CLOSED:
        entries.append(Entry(HistoryKind.CLOSE))
    elif new is S.CANCELLED and old is not S.CANCELLED:
        entries.append(Entry(HistoryKind.CANCEL))
    return entries


async def record_transition(
    session: AsyncSession,
    incident: Incident,
    before: ClockFacts | None,
    after: ClockFacts | None = None,
    at: datetime | None = None,
) -> None:
    """Append the ledger entries of the incident's change and recompute its stored SLA outcome.

    ``before`` is ``clock_facts(incident)`` taken before the change (None for a new incident); ``after``
    defaults to the incident as it stands now. Call it with the incident locked (or just created).
    """
    after = after or clock_facts(incident)
    entries = transition_entries(before, after)
    if not entries:
        return
    at = at or utcnow()
    if sa_inspect(incident).pending:
        await session.flush()
    if before is None:
        await session.execute(
            select(func.pg_advisory_xact_lock_shared(CONTRACT_LOCK, func.hashtext(str(incident.tenant_id))))
        )
    await session.execute(
        insert(ClockHistoryEntry),
        [
            {
                "tenant_id": incident.tenant_id,
                "incident_id": incident.id,
                "at": at,
                "kind": entry.kind,
                "priority": entry.priority,
                "hold_reason": entry.hold_reason,
            }
            for entry in entries
        ],
    )
    await refresh_outcome(session, incident, at)


async def refresh_outcome(session: AsyncSession, incident: Incident, now: datetime) -> None:
    """Recompute the incident's stored outcome from its whole ledger (nothing when no contract governs)."""
    contracts = (await load_contracts(session, [incident.tenant_id]))[incident.tenant_id]
    if governing(contracts, incident.reported_at) is None:
        return
    key = (incident.tenant_id, incident.id)
    history = (await load_histories(session, [key]))[key]
    clocks = read_clocks(contracts, incident.reported_at, history, now)
    if clocks is None:
        return
    row = await session.scalar(
        select(IncidentSla)
        .where(IncidentSla.tenant_id == incident.tenant_id, IncidentSla.incident_id == incident.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        row = IncidentSla(tenant_id=incident.tenant_id, incident_id=incident.id)
        store_outcome(row, clocks, Noted(), now)
        session.add(row)
        # flushed now, so that a second change in the same transaction finds the row
        await session.flush()
    else:
        store_outcome(row, clocks, noted_of(row), now)


__all__ = [
    "CONTRACT_LOCK",
    "ClockFacts",
    "Entry",
    "clock_facts",
    "record_transition",
    "refresh_outcome",
    "transition_entries",
]
