"""The SLA scanner: one leader at a time, every alert exactly once, catch-up on start, waking when due.

Incidents are reported for real and then moved back in time (``backdate``), as if the service had been
down while their clocks ran. The order of the tests matters and is kept: the first ones run scanners of
their own with no server up; the served app (whose scanner leads) starts for the later ones, after the
overdue incidents it must catch up on have been seeded.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Engine, text

from auth import Principal
from domain.db import Database, create_database
from domain.events import SLA_CHANNEL
from domain.incidents import service as incidents
from domain.settings import Settings
from domain.sla.scanner import SlaScanner, next_due_at, scan_once
from domain.tenancy.roles import Role
from tests import factories as f
from tests.sla.support import backdate, create_contract, events_of, outcome
from tests.waiting import eventually, eventually_async

ALERTS = ("SLA_AT_RISK", "SLA_BREACHED")


@pytest_asyncio.fixture(scope="module")
async def acme(db: Database) -> AsyncIterator[tuple[uuid.UUID, Principal]]:
    tenant = await f.create_tenant(db, "acme")
    await f.add_member(db, tenant.id, "mona", Role.MANAGER)
    mona = f.actor("mona", {tenant.id: Role.MANAGER})
    # 24x7 UTC, P3: response 240 minutes (at risk from 180), resolution 1440 (at risk from 1080).
    await create_contract(db, mona, tenant.id, effective_from=datetime(2020, 1, 1, tzinfo=UTC))
    yield tenant.id, mona


async def overdue(
    db: Database, owner: Engine, acme: tuple[uuid.UUID, Principal], n: int, by: timedelta
) -> list[uuid.UUID]:
    tenant, mona = acme
    ids = []
    for i in range(n):
        incident = await f.report(db, mona, tenant, f"Overdue {i}")
        backdate(owner, incident.id, by)
        ids.append(incident.id)
    return ids


def alerts(owner: Engine, incident_id: uuid.UUID) -> list[tuple[str, str]]:
    return [(e["kind"], e["data"]["clock"]) for e in events_of(owner, incident_id, *ALERTS)]


# ---------------------------------------------------------------- no server up


async def test_two_scanners_at_once_record_every_alert_exactly_once(
    test_db: Any, db: Database, owner: Engine, acme: tuple[uuid.UUID, Principal]
) -> None:
    ids = await overdue(db, owner, acme, 30, timedelta(hours=5))  # response at risk and breached
    other = create_database(test_db.app_url, pool_size=5)
    _, mona = acme
    try:

        async def meanwhile() -> None:  # changes in flight lock some incidents while the scanners run
            for incident_id in ids[::3]:
                await incidents.acknowledge_incident(db, mona, incident_id=incident_id, expected_version=None)

        results = await asyncio.gather(
            scan_once(db, batch=7), scan_once(other, batch=5), scan_once(other, batch=11), meanwhile()
        )
        assert sum(r.alerts for r in results[:3]) <= 2 * len(ids)
        await scan_once(other)  # whatever was locked during the race is handled now
    finally:
        await other.dispose()
    for incident_id in ids:
        assert alerts(owner, incident_id) == [("SLA_AT_RISK", "response"), ("SLA_BREACHED", "response")]
        stored = outcome(owner, incident_id)
        assert (
            stored is not None and stored["response_breach_noted"] and not stored["resolution_at_risk_noted"]
        )
    with owner.connect() as connection:
        flagged = connection.execute(
            text("SELECT count(*) FROM incidents WHERE id = ANY(:ids) AND sla_breached"), {"ids": ids}
        ).scalar_one()
    assert flagged == len(ids)
    assert (await scan_once(db)).alerts == 0


async def test_one_replica_leads_and_another_takes_over_when_it_goes(test_db: Any) -> None:
    pools = [create_database(test_db.app_url, pool_size=3) for _ in range(2)]
    scanners = [SlaScanner(pool, max_sleep=0.5, lock_retry=0.1) for pool in pools]
    try:
        for scanner in scanners:
            scanner.start()
        await _until(lambda: any(s.leading for s in scanners))
        await asyncio.sleep(0.5)
        assert sum(s.leading for s in scanners) == 1
        leader = next(s for s in scanners if s.leading)
        follower = next(s for s in scanners if not s.leading)
        assert follower.passes == 0  # the follower never scanned
        await leader.stop()
        await _until(lambda: follower.leading)
        await _until(lambda: follower.passes > 0)
    finally:
        for scanner in scanners:
            await scanner.stop()
        for pool in pools:
            await pool.dispose()


async def _until(condition: Any, what: str = "a condition") -> None:
    await eventually_async(condition, what, every=0.05)


# ---------------------------------------------------------------- the served app


@pytest_asyncio.fixture(scope="module")
async def down_for_two_days(
    db: Database, owner: Engine, acme: tuple[uuid.UUID, Principal]
) -> list[uuid.UUID]:
    """Incidents whose clocks all crossed their at-risk and breach points while no scanner ran."""
    return await overdue(db, owner, acme, 5, timedelta(days=2))


@pytest.fixture(scope="module")
def settings(test_db: Any) -> Settings:
    # The scanner's longest sleep is an hour: anything it does within a test, it was woken for.
    return f.settings_for(test_db, sla_scanner_max_sleep_seconds=3600, auto_close_interval_seconds=0)


@pytest.fixture(scope="module")
def live(test_db: Any, settings: Settings, down_for_two_days: list[uuid.UUID]) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as served:
        yield served


def _wait(condition: Any, what: str = "a condition") -> None:
    eventually(condition, what, every=0.05)


def test_on_start_the_scanner_catches_up_on_what_breached_while_down(
    live: f.LiveApp, owner: Engine, down_for_two_days: list[uuid.UUID]
) -> None:
    expected = [
        ("SLA_AT_RISK", "response"),
        ("SLA_BREACHED", "response"),
        ("SLA_AT_RISK", "resolution"),
        ("SLA_BREACHED", "resolution"),
    ]
    _wait(lambda: all(len(alerts(owner, i)) == 4 for i in down_for_two_days))
    for incident_id in down_for_two_days:
        assert alerts(owner, incident_id) == expected
        recorded = events_of(owner, incident_id, *ALERTS)
        assert all(e["visibility"] == "INTERNAL" and e["actor"] is None for e in recorded)
        # each alert is dated when its clock crossed, two days ago, not when it was noticed
        assert recorded[0]["at"] < datetime.now(UTC) - timedelta(days=1)
    scanner = live.app.state.sla_scanner
    assert scanner.leading


async def test_the_scanner_wakes_when_something_falls_due(
    live: f.LiveApp, db: Database, owner: Engine, acme: tuple[uuid.UUID, Principal]
) -> None:
    scanner = live.app.state.sla_scanner
    tenant, mona = acme
    incident = await f.report(db, mona, tenant, "Due in a moment")
    # Three hours minus two seconds ago: the response clock reaches 180 minutes two seconds from now.
    backdate(owner, incident.id, timedelta(hours=3) - timedelta(seconds=2))
    due = outcome(owner, incident.id)
    assert due is not None and due["next_due_at"] is not None
    assert await next_due_at(db) == due["next_due_at"]
    with owner.begin() as connection:  # a change elsewhere would NOTIFY; here the test does
        connection.execute(text("SELECT pg_notify(:c, '')"), {"c": SLA_CHANNEL})
    passes = scanner.passes
    await _until(lambda: alerts(owner, incident.id) == [("SLA_AT_RISK", "response")], "the at-risk alert")
    recorded = events_of(owner, incident.id, *ALERTS)[0]
    # Not before it was due: the alert records when it was noticed.
    assert datetime.fromisoformat(recorded["data"]["recordedAt"]) >= due["next_due_at"]
    # It slept until the due time instead of polling: a handful of passes, not one per tick.
    assert scanner.passes - passes <= 4
