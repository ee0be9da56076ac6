"""The SLA scanner: records SLA_AT_RISK and SLA_BREACHED exactly once per clock, as INTERNAL events.

Every governed incident has a stored outcome (``incident_sla``) whose ``next_due_at`` is the earliest
crossing (at-risk threshold or target) not recorded yet, projected from its ledger by the pure clock.
The scanner therefore never scans everything: it sleeps until the earliest ``next_due_at`` of all
incidents (bounded by a maximum sleep), handles what is due, and sleeps again. Given the process's outbox
hub and listener (``watch``), it wakes sooner on every event the hub dispatches, since any change may
bring a due time closer, and on every notice of the SLA channel (``events.announce_sla_due``); it opens
no LISTEN connection of its own. On start it first handles everything overdue, so an incident that
breached while the service was down gets its events then.

One replica at a time runs it: the leader holds a session-level Postgres advisory lock on a connection
of its own; the others retry now and then and take over when that connection goes away. Exactly-once
does not depend on the lock alone: each incident is handled with its row locked (``SKIP LOCKED``, so a
change in flight is never waited for and is handled on the next pass) and its ``*_noted`` flags re-read
under that lock, so two scanners running at once still record every alert once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from domain import events
from domain.background import Worker, wait_for_signal
from domain.columns import utcnow
from domain.db import Database, Scope
from domain.incidents.enums import IncidentEventKind, Visibility
from domain.incidents.models import Incident
from domain.outbox import Hub, Listener, LiveEvent
from domain.sla.models import IncidentSla
from domain.sla.outcome import Alert, ClockName, alerts_due, with_alerts
from domain.sla.store import (
    Clocks,
    IncidentKey,
    load_contracts,
    load_histories,
    noted_of,
    read_clocks,
    store_outcome,
)

log = logging.getLogger("incidentdesk.sla")

SCANNER_LOCK = 0x534C4153  # "SLAS": the leader's session-level advisory lock
# A scanner waiting on a lock gives up well before PostgreSQL's deadlock check (deadlock_timeout, 1 s by
# default) could pick a user's change as the victim; the incident is handled on the next pass.
LOCK_TIMEOUT = "300ms"
LOCK_NOT_AVAILABLE = "55P03"


@dataclass
class ScanResult:
    refreshed: int = 0  # stored outcomes recomputed
    alerts: int = 0  # events recorded
    skipped: int = 0  # due, but locked by a change in flight: handled on a later pass
    # How long past its due time the most overdue incident handled was, when the pass began: the
    # scanner's lag (a sleep overslept, a leader that took over late, a long outage).
    lag_seconds: float = 0.0


def _message(alert: Alert) -> str:
    reading = alert.reading
    clock = "Response" if alert.clock is ClockName.RESPONSE else "Resolution"
    target = f"{reading.target_minutes}-minute {reading.priority.value} target"
    if alert.kind is IncidentEventKind.SLA_AT_RISK:
        return f"{clock} SLA at risk: the {target} is nearly used up"
    return f"{clock} SLA breached: the {target} has passed"


def _data(alert: Alert, clocks: Clocks, now: datetime) -> dict[str, Any]:
    reading = alert.reading
    return {
        "clock": alert.clock.value,
        "priority": reading.priority.value,
        "targetMinutes": reading.target_minutes,
        "atRiskPercent": clocks.contract.at_risk_percent,
        "contractId": str(clocks.contract.id),
        "crossedAt": alert.at.isoformat(),
        "recordedAt": now.isoformat(),
    }


async def _handle(
    session: AsyncSession, incident: Incident, row: IncidentSla, clocks: Clocks | None, now: datetime
) -> int:
    """Record what fell due for one locked incident and store its new outcome; the number of alerts."""
    noted = noted_of(row)
    alerts = alerts_due(clocks.response, clocks.resolution, noted, now) if clocks else []
    for alert in alerts:
        assert clocks is not None
        await events.record(
            session,
            incident,
            alert.kind,
            visibility=Visibility.INTERNAL,
            actor=None,
            message=_message(alert),
            data=_data(alert, clocks, now),
            at=alert.at,
        )
    store_outcome(row, clocks, with_alerts(noted, alerts), now)
    breached = any(alert.kind is IncidentEventKind.SLA_BREACHED for alert in alerts) or any(
        reading is not None and reading.breached and not reading.cancelled
        for reading in ((clocks.response, clocks.resolution) if clocks else ())
    )
    if breached and not incident.sla_breached:
        incident.sla_breached = True  # stays true: the filter lists every incident that ever breached
    return len(alerts)


async def _batch(
    db: Database,
    tenants: frozenset[Any],
    now: datetime,
    size: int,
    passed: set[IncidentKey],
    result: ScanResult,
) -> int:
    """One transaction over up to ``size`` due incidents; how many due rows it looked at."""
    async with db.transaction(Scope.of(tenants)) as session:
        await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        due = select(IncidentSla.tenant_id, IncidentSla.incident_id).where(IncidentSla.next_due_at <= now)
        if passed:
            due = due.where(tuple_(IncidentSla.tenant_id, IncidentSla.incident_id).not_in(list(passed)))
        keys: list[IncidentKey] = [
            (t, i) for t, i in await session.execute(due.order_by(IncidentSla.next_due_at).limit(size))
        ]
        if not keys:
            return 0
        passed.update(keys)
        incidents = {
            (row.tenant_id, row.id): row
            for row in await session.scalars(
                select(Incident)
                .where(tuple_(Incident.tenant_id, Incident.id).in_(keys))
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            )
        }
        result.skipped += len(keys) - len(incidents)
        if not incidents:
            return len(keys)
        locked = list(incidents)
        rows = await session.scalars(
            select(IncidentSla)
            .where(tuple_(IncidentSla.tenant_id, IncidentSla.incident_id).in_(locked))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        histories = await load_histories(session, locked)
        contracts = await load_contracts(session, {tenant for tenant, _ in locked})
        for row in rows:
            key = (row.tenant_id, row.incident_id)
            if row.next_due_at is None or row.next_due_at > now:
                continue  # handled by another scanner meanwhile
            incident = incidents[key]
            result.lag_seconds = max(result.lag_seconds, (now - row.next_due_at).total_seconds())
            clocks = read_clocks(contracts[row.tenant_id], incident.reported_at, histories[key], now)
            result.alerts += await _handle(session, incident, row, clocks, now)
            result.refreshed += 1
        return len(keys)


async def scan_once(db: Database, *, now: datetime | None = None, batch: int = 200) -> ScanResult:
    """Handle every incident due by ``now`` (default: the current time), batch by batch."""
    now = now or utcnow()
    result = ScanResult()
    tenants = await db.all_tenant_ids()
    if not tenants:
        return result
    passed: set[IncidentKey] = set()
    while True:
        try:
            seen = await _batch(db, tenants, now, batch, passed, result)
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            result.skipped += 1  # a lock wait timed out: the batch rolled back, the next pass retries
            break
        if seen == 0:
            break
    return result


async def next_due_at(db: Database) -> datetime | None:
    """The earliest due instant over every tenant's incidents."""
    tenants = await db.all_tenant_ids()
    if not tenants:
        return None
    async with db.transaction(Scope.of(tenants)) as session:
        due: datetime | None = await session.scalar(select(func.min(IncidentSla.next_due_at)))
        return due


class SlaScanner(Worker):
    """Runs ``scan_once`` whenever something falls due, on the one replica that holds the leader lock."""

    name = "sla-scanner"

    def __init__(
        self,
        db: Database,
        *,
        max_sleep: float = 60.0,
        lock_retry: float = 30.0,
        batch: int = 200,
        debounce: float = 0.2,
    ) -> None:
        super().__init__()
        self.db = db
        self.max_sleep = max_sleep
        self.lock_retry = lock_retry
        self.batch = batch
        self.debounce = debounce
        self.leading = False
        # What the metrics read: passes made and alerts recorded; and each pass's result, for its lag.
        self.passes = 0
        self.alerts_recorded = 0
        self.pass_watchers: list[Callable[[ScanResult], None]] = []
        self._woken = asyncio.Event()

    def watch(self, hub: Hub, listener: Listener) -> None:
        """Wake on every event the process's outbox hub dispatches and on every SLA notice its listener
        relays (the process's one LISTEN connection), from ``start`` to ``stop``; without them the scanner
        still looks at least every ``max_sleep``."""
        self.hear(hub.watchers, self._on_event)
        self.hear(listener.sla_watchers, self.wake)

    def wake(self) -> None:
        self._woken.set()

    def _on_event(self, event: LiveEvent) -> None:
        self.wake()

    async def run(self) -> None:
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the SLA scanner failed; retrying")
            await asyncio.sleep(self.lock_retry)

    async def _lead(self) -> None:
        """Hold the leader lock and scan until the lock's connection goes away; return if not the leader."""
        async with self.db.engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            if not await connection.scalar(select(func.pg_try_advisory_lock(SCANNER_LOCK))):
                return
            try:
                self.leading = True
                await self._loop(connection)
            finally:
                self.leading = False
                with suppress(Exception):
                    await connection.scalar(select(func.pg_advisory_unlock(SCANNER_LOCK)))

    async def _loop(self, connection: AsyncConnection) -> None:
        while True:
            self._woken.clear()
            result = await scan_once(self.db, batch=self.batch)
            self.passes += 1
            self.alerts_recorded += result.alerts
            for watcher in self.pass_watchers:
                watcher(result)
            if result.alerts:
                log.info("SLA scanner recorded %d alert(s)", result.alerts)
            due = await next_due_at(self.db)
            delay = self.max_sleep
            if due is not None:
                delay = min(delay, max((due - utcnow()).total_seconds() + 0.002, 0.0))
            if result.skipped:
                delay = max(delay, 0.5)  # something due is locked by a change in flight
            await wait_for_signal(self._woken, delay)
            if self._woken.is_set():
                await asyncio.sleep(self.debounce)  # let a burst of changes commit, then look once
            await connection.scalar(select(1))  # still connected, so still the leader
