"""The work log: time spent handling an incident, logged, corrected and withdrawn for billing.

Each use case is one transaction through the incident funnel (lock the incident, ask the status machine,
write one INTERNAL timeline event) and holds the billing months it touches open until commit: an entry
dated in a closed month cannot be logged, corrected or withdrawn (PERIOD_CLOSED).

Who sees what: entries and their notes are the provider's internal work, read by staff only; the sum
per incident (``minutes_spent``) is what a CUSTOMER sees.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from domain.billing import periods
from domain.columns import utcnow
from domain.db import Database, Scope, use_case
from domain.errors import forbidden, invalid, not_found
from domain.incidents.enums import Visibility
from domain.incidents.lifecycle import Operation
from domain.incidents.models import Incident, WorkLogEntry
from domain.incidents.steps import MAX_TEXT, clean_text, commit_step, load_for_update, step
from domain.tenancy.actor import Actor
from domain.tenancy.roles import Role, at_least
from domain.tenancy.roles import Scope as OAuthScope

MAX_WORK_MINUTES = 1440

IncidentKey = tuple[uuid.UUID, uuid.UUID]  # (tenant_id, incident id)


def _check_minutes(minutes: int) -> None:
    if not 1 <= minutes <= MAX_WORK_MINUTES:
        raise invalid(f"must be between 1 and {MAX_WORK_MINUTES}", "minutes")


def _check_worked_at(worked_at: datetime, incident: Incident, now: datetime) -> None:
    if worked_at > now:
        raise invalid("must not be in the future", "worked_at")
    if worked_at < incident.reported_at:
        raise invalid("must not be before the incident was reported", "worked_at")


def _facts(entry: WorkLogEntry) -> dict[str, Any]:
    """An entry as its timeline events record it."""
    return {
        "entryId": str(entry.id),
        "minutes": entry.minutes,
        "billable": entry.billable,
        "workedAt": entry.worked_at.isoformat(),
    }


@use_case
async def log_work(
    db: Database,
    actor: Actor,
    *,
    incident_id: uuid.UUID,
    minutes: int,
    note: str | None = None,
    billable: bool | None = True,
    worked_at: datetime | None = None,
) -> Incident:
    """Log time spent on the incident (AGENT): 1 to 1440 minutes, billable unless told otherwise (only
    ``False`` says otherwise), done
    at ``worked_at`` (default now; never in the future nor before the incident was reported)."""
    _check_minutes(minutes)
    note = clean_text(note, MAX_TEXT, "note") or None
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, None)
        accepted = step(incident, actor, role, Operation.LOG_WORK)
        now = utcnow()
        when = worked_at or now
        _check_worked_at(when, incident, now)
        (month,) = await periods.local_months(session, incident.tenant_id, [when])
        await periods.hold_open(session, incident.tenant_id, [(month, ("worked_at",))])
        entry = WorkLogEntry(
            tenant_id=incident.tenant_id,
            id=uuid.uuid4(),
            incident_id=incident.id,
            author=actor.subject,
            author_issuer=actor.issuer,
            minutes=minutes,
            billable=billable is not False,
            note=note,
            worked_at=when,
            logged_at=now,
        )
        session.add(entry)
        await commit_step(
            session,
            incident,
            accepted,
            actor,
            visibility=Visibility.INTERNAL,
            message=note,
            data=_facts(entry),
        )
    return incident


@dataclass(frozen=True)
class Correction:
    """What changes in an entry; None leaves a field as it is (an empty note clears the note)."""

    minutes: int | None = None
    billable: bool | None = None
    note: str | None = None
    worked_at: datetime | None = None


@dataclass(frozen=True)
class _Terms:
    """What an entry says, compared before and after a correction."""

    minutes: int
    billable: bool
    note: str | None
    worked_at: datetime


async def _load_entry(
    session: AsyncSession, actor: Actor, entry_id: uuid.UUID
) -> tuple[WorkLogEntry, Incident, Role]:
    """The entry and its incident, both locked; only its author or a MANAGER may change it."""
    field = ("entry_id",)
    found = await session.scalar(select(WorkLogEntry).where(WorkLogEntry.id == entry_id))
    role = actor.role_in(found.tenant_id) if found is not None else None
    # Entries are internal work: to a customer they do not exist.
    if found is None or role is None or not at_least(role, Role.AGENT):
        raise not_found("work entry", *field)
    incident, role = await load_for_update(session, actor, found.incident_id, None, field=field)
    entry = await session.scalar(
        select(WorkLogEntry)
        .where(WorkLogEntry.tenant_id == incident.tenant_id, WorkLogEntry.id == entry_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if entry is None:  # withdrawn meanwhile: the incident's lock was held by its withdrawal
        raise not_found("work entry", *field)
    authored = entry.author == actor.subject and entry.author_issuer == actor.issuer
    if not authored and role is not Role.MANAGER:
        raise forbidden("only its author or a MANAGER may change a work entry", *field)
    return entry, incident, role


@use_case
async def correct_work(
    db: Database, actor: Actor, *, entry_id: uuid.UUID, correction: Correction
) -> tuple[WorkLogEntry, Incident]:
    """Correct an entry (its author or a MANAGER) while its month, and the month it moves to, are open."""
    if correction.minutes is not None:
        _check_minutes(correction.minutes)
    note = clean_text(correction.note, MAX_TEXT, "note")
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        entry, incident, role = await _load_entry(session, actor, entry_id)
        accepted = step(incident, actor, role, Operation.CORRECT_WORK)
        now = utcnow()
        if correction.worked_at is not None:
            _check_worked_at(correction.worked_at, incident, now)
        before = _Terms(entry.minutes, entry.billable, entry.note, entry.worked_at)
        after = _Terms(
            minutes=before.minutes if correction.minutes is None else correction.minutes,
            billable=before.billable if correction.billable is None else correction.billable,
            note=before.note if note is None else (note or None),
            worked_at=before.worked_at if correction.worked_at is None else correction.worked_at,
        )
        if after == before:
            raise invalid("nothing to change: give a new minutes, billable, note or workedAt")
        was, moved_to = await periods.local_months(
            session, incident.tenant_id, [before.worked_at, after.worked_at]
        )
        await periods.hold_open(
            session, incident.tenant_id, [(was, ("entry_id",)), (moved_to, ("worked_at",))]
        )
        previous = {k: v for k, v in _facts(entry).items() if k != "entryId"}
        entry.minutes, entry.billable, entry.note, entry.worked_at = (
            after.minutes,
            after.billable,
            after.note,
            after.worked_at,
        )
        data = {**_facts(entry), "before": {**previous, "note": before.note}}
        await commit_step(
            session, incident, accepted, actor, visibility=Visibility.INTERNAL, message=entry.note, data=data
        )
    return entry, incident


@use_case
async def withdraw_work(
    db: Database, actor: Actor, *, entry_id: uuid.UUID, reason: str | None = None
) -> Incident:
    """Withdraw an entry (its author or a MANAGER) while its month is open. The entry is deleted; its
    WORK_WITHDRAWN event keeps what it said."""
    reason = clean_text(reason, MAX_TEXT, "reason") or None
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        entry, incident, role = await _load_entry(session, actor, entry_id)
        accepted = step(incident, actor, role, Operation.WITHDRAW_WORK)
        (month,) = await periods.local_months(session, incident.tenant_id, [entry.worked_at])
        await periods.hold_open(session, incident.tenant_id, [(month, ("entry_id",))])
        data = {**_facts(entry), "author": entry.author, "note": entry.note}
        await session.execute(
            delete(WorkLogEntry).where(WorkLogEntry.tenant_id == entry.tenant_id, WorkLogEntry.id == entry.id)
        )
        await commit_step(
            session, incident, accepted, actor, visibility=Visibility.INTERNAL, message=reason, data=data
        )
    return incident


# ---------------------------------------------------------------- reading


def sees_entries(actor: Actor, tenant_id: uuid.UUID) -> bool:
    """Staff whose token may read incidents see the tenant's entries; customers never do."""
    role = actor.role_in(tenant_id)
    return role is not None and at_least(role, Role.AGENT) and actor.can(OAuthScope.INCIDENTS_READ, tenant_id)


async def entries_of(
    session: AsyncSession, actor: Actor, keys: Sequence[IncidentKey]
) -> dict[IncidentKey, list[WorkLogEntry]]:
    """The entries of each incident the actor may see them of, by when the work was done."""
    visible = [k for k in keys if sees_entries(actor, k[0])]
    found: dict[IncidentKey, list[WorkLogEntry]] = {k: [] for k in keys}
    if not visible:
        return found
    log = WorkLogEntry
    rows = await session.scalars(
        select(log)
        .where(tuple_(log.tenant_id, log.incident_id).in_(visible))
        .order_by(log.worked_at, log.logged_at, log.id)
    )
    for row in rows:
        found[(row.tenant_id, row.incident_id)].append(row)
    return found


async def entries_by_id(
    session: AsyncSession, actor: Actor, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, WorkLogEntry]:
    rows = await session.scalars(select(WorkLogEntry).where(WorkLogEntry.id.in_(ids)))
    return {row.id: row for row in rows if sees_entries(actor, row.tenant_id)}


async def minutes_spent(session: AsyncSession, keys: Sequence[IncidentKey]) -> dict[IncidentKey, int]:
    """Every entry's minutes summed per incident, billable or not (anyone who reads the incident)."""
    log = WorkLogEntry
    rows = await session.execute(
        select(log.tenant_id, log.incident_id, func.sum(log.minutes))
        .where(tuple_(log.tenant_id, log.incident_id).in_(keys))
        .group_by(log.tenant_id, log.incident_id)
    )
    return {(t, i): int(total) for t, i, total in rows}


__all__ = [
    "MAX_WORK_MINUTES",
    "Correction",
    "correct_work",
    "entries_by_id",
    "entries_of",
    "log_work",
    "minutes_spent",
    "sees_entries",
    "withdraw_work",
]
