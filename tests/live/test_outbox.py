"""The outbox fan-out in one process: a real LISTEN connection, real commits, real terminations."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from auth import Principal
from domain.bulletins import service as bulletins
from domain.bulletins.models import Bulletin
from domain.bulletins.mover import PhaseMover
from domain.bulletins.phases import BulletinKind, BulletinPhase
from domain.columns import utcnow
from domain.db import Database, Scope
from domain.events import SLA_CHANNEL
from domain.incidents import service as incidents
from domain.incidents.enums import Visibility
from domain.incidents.models import IncidentEvent
from domain.outbox import LISTENER_APPLICATION_NAME, Feed, Hub, Listener, LiveEvent, store
from domain.outbox import listener as listener_module
from domain.sla.scanner import SlaScanner
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.waiting import PATIENCE, eventually_async


@dataclass
class World:
    acme: uuid.UUID
    globex: uuid.UUID
    alice: Principal  # AGENT of both
    incident: uuid.UUID
    other: uuid.UUID  # an incident of globex


@pytest_asyncio.fixture(scope="module")
async def world(db: Database) -> World:
    acme = await f.create_tenant(db, "acme")
    globex = await f.create_tenant(db, "globex")
    alice = f.actor("alice", {acme.id: Role.AGENT, globex.id: Role.AGENT})
    for tenant in (acme, globex):
        await f.add_member(db, tenant.id, "alice", Role.AGENT)
    incident = await f.report(db, alice, acme.id, "Mail is down")
    other = await f.report(db, alice, globex.id, "Globex VPN")
    return World(acme.id, globex.id, alice, incident.id, other.id)


@pytest_asyncio.fixture(scope="module")
async def live(test_db: TestDatabase, db: Database, world: World) -> AsyncIterator[tuple[Hub, Listener]]:
    hub = Hub(db, feed_capacity=20)
    listener = Listener(test_db.app_url, hub, min_backoff=0.05, health_interval=1.0)
    hub.start()
    listener.start()
    await asyncio.wait_for(listener.connected.wait(), PATIENCE)
    await _until(lambda: hub.ready)
    yield hub, listener
    await listener.stop()
    await hub.stop()


async def _until(condition: Callable[[], bool], what: str = "a condition") -> None:
    await eventually_async(condition, what, every=0.01)


async def comment(db: Database, world: World, body: str, incident: uuid.UUID | None = None) -> int:
    event = await incidents.add_comment(
        db, world.alice, incident_id=incident or world.incident, body=body, visibility=Visibility.PUBLIC
    )
    return event.seq


async def collect(feed: Feed, count: int, within: float = PATIENCE) -> list[LiveEvent]:
    got: list[LiveEvent] = []

    async def run() -> None:
        async for event in feed:
            got.append(event)
            if len(got) == count:
                return

    await asyncio.wait_for(run(), within)
    return got


async def stored_seqs(db: Database, tenant: uuid.UUID, after: int) -> list[int]:
    async with db.transaction(Scope.of([tenant])) as session:
        rows = await session.scalars(
            select(IncidentEvent.seq)
            .where(IncidentEvent.tenant_id == tenant, IncidentEvent.seq > after)
            .order_by(IncidentEvent.seq)
        )
        return list(rows)


def everything(event: LiveEvent) -> bool:
    """Every incident event (the tests compare them with the incident timeline)."""
    return event.incident is not None


async def test_a_commit_reaches_an_open_feed_once(
    db: Database, world: World, live: tuple[Hub, Listener]
) -> None:
    hub, _ = live
    async with hub.open([world.acme], everything) as feed:
        seq = await comment(db, world, "first")
        [event] = await collect(feed, 1)
    assert event.seq == seq and event.incident is not None and event.incident.message == "first"


async def test_feeds_see_only_their_tenants(db: Database, world: World, live: tuple[Hub, Listener]) -> None:
    hub, _ = live
    async with hub.open([world.globex], everything) as feed:
        await comment(db, world, "for acme")
        seq = await comment(db, world, "for globex", world.other)
        [event] = await collect(feed, 1)
    assert event.tenant_id == world.globex and event.seq == seq


async def test_after_replays_then_streams_with_no_gap_or_duplicate_while_events_commit(
    db: Database, world: World, live: tuple[Hub, Listener]
) -> None:
    hub, _ = live
    cursor = await comment(db, world, "before")
    for i in range(30):
        await comment(db, world, f"stored {i}")

    async def writer() -> None:
        for i in range(40):
            await comment(db, world, f"racing {i}")

    writing = asyncio.create_task(writer())
    await asyncio.sleep(0.05)  # let some commit while the feed is replaying
    async with hub.open([world.acme], everything, after={world.acme: cursor}) as feed:
        await writing
        expected = await stored_seqs(db, world.acme, cursor)
        got = await collect(feed, len(expected))
    assert [e.seq for e in got] == expected


async def test_news_arriving_while_the_hub_reads_a_tenant_is_not_lost(
    db: Database, world: World, live: tuple[Hub, Listener], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, _ = live
    # The earlier tests' events dispatched first, so that the feed's two events are this test's.
    latest = max(await stored_seqs(db, world.acme, 0), default=0)
    await _until(lambda: hub.marks.get(world.acme, 0) >= latest, "the earlier events dispatched")
    real = store.events_after
    reading = asyncio.Event()
    may_return = asyncio.Event()

    async def slow_read(*args: Any, **kwargs: Any) -> list[LiveEvent]:
        events = await real(*args, **kwargs)
        reading.set()
        await may_return.wait()  # a second commit is announced while this read is still in hand
        return events

    async with hub.open([world.acme], everything) as feed:
        start = feed.delivered[world.acme]
        monkeypatch.setattr(store, "events_after", slow_read)
        await comment(db, world, "first")
        await asyncio.wait_for(reading.wait(), PATIENCE)
        await comment(db, world, "second")
        await _until(lambda: world.acme in hub._pending, "the second notification, during the read")
        monkeypatch.setattr(store, "events_after", real)
        may_return.set()
        got = await collect(feed, 2)
    assert [e.seq for e in got] == await stored_seqs(db, world.acme, start)


async def test_a_slow_subscriber_catches_up_from_the_database(
    db: Database, world: World, live: tuple[Hub, Listener]
) -> None:
    hub, _ = live  # feeds hold at most 20 events
    async with hub.open([world.acme], everything) as feed:
        start = feed.delivered[world.acme]
        for i in range(60):
            await comment(db, world, f"burst {i}")
        await _until(lambda: hub.marks[world.acme] >= start + 60, "the burst dispatched")
        got = await collect(feed, 60)
        assert feed.replays >= 1
    assert [e.seq for e in got] == await stored_seqs(db, world.acme, start)


async def test_the_feed_filter_is_applied_to_replayed_and_live_events(
    db: Database, world: World, live: tuple[Hub, Listener]
) -> None:
    hub, _ = live
    cursor = await comment(db, world, "cursor")
    await comment(db, world, "skip me")
    await comment(db, world, "keep stored")

    def kept(event: LiveEvent) -> bool:
        return event.incident is not None and (event.incident.message or "").startswith("keep")

    async with hub.open([world.acme], kept, after={world.acme: cursor}) as feed:
        await comment(db, world, "skip me too")
        await comment(db, world, "keep live")
        got = await collect(feed, 2)
    assert [e.incident.message for e in got if e.incident] == ["keep stored", "keep live"]


async def test_after_the_listen_connection_is_killed_nothing_is_lost_or_repeated(
    test_db: TestDatabase,
    db: Database,
    world: World,
    live: tuple[Hub, Listener],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A hub of its own whose listener may reconnect only when the test opens the gate, so that the events
    # below certainly commit while nobody listens.
    gate = asyncio.Event()
    connect = listener_module.asyncpg.connect

    async def gated_connect(*args: Any, **kwargs: Any) -> Any:
        if listener.connections >= 1:
            await gate.wait()
        return await connect(*args, **kwargs)

    monkeypatch.setattr(listener_module, "asyncpg", SimpleNamespace(connect=gated_connect))
    hub = Hub(db)
    listener = Listener(test_db.app_url, hub, min_backoff=0.05)
    hub.start()
    listener.start()
    try:
        await asyncio.wait_for(listener.connected.wait(), PATIENCE)
        await _until(lambda: hub.ready, "the hub's first resync")
        async with hub.open([world.acme], everything) as feed:
            start = feed.delivered[world.acme]
            await comment(db, world, "before the restart")
            killed = f.owner_sql(
                test_db,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = :name AND datname = current_database() AND pid = :pid",
                {"name": LISTENER_APPLICATION_NAME, "pid": listener.backend_pid},
            )
            assert killed == [(True,)], "the LISTEN connection was not found"
            await _until(lambda: not listener.connected.is_set(), "the listener noticed")
            for i in range(5):
                await comment(db, world, f"during the restart {i}")
            assert listener.connections == 1
            gate.set()
            await _until(lambda: listener.connections == 2, "the listener reconnected")
            await comment(db, world, "after the restart")
            got = await collect(feed, 7)
            await asyncio.sleep(0.2)
            assert not feed._queue, "an event was delivered twice"
        assert [e.seq for e in got] == await stored_seqs(db, world.acme, start)
    finally:
        await listener.stop()
        await hub.stop()


async def test_two_processes_worth_of_hubs_each_get_every_event_once(
    test_db: TestDatabase, db: Database, world: World, live: tuple[Hub, Listener]
) -> None:
    other_hub = Hub(db)
    other = Listener(test_db.app_url, other_hub)
    other_hub.start()
    other.start()
    try:
        await asyncio.wait_for(other.connected.wait(), PATIENCE)
        await _until(lambda: other_hub.ready)
        hub, _ = live
        async with hub.open([world.acme], everything) as a, other_hub.open([world.acme], everything) as b:
            seqs = [await comment(db, world, f"both {i}") for i in range(5)]
            got_a, got_b = await asyncio.gather(collect(a, 5), collect(b, 5))
        assert [e.seq for e in got_a] == seqs == [e.seq for e in got_b]
    finally:
        await other.stop()
        await other_hub.stop()


@pytest.mark.parametrize("count", [3])
async def test_closing_a_feed_ends_its_iteration(
    world: World, live: tuple[Hub, Listener], count: int
) -> None:
    hub, _ = live
    feed = hub.open([world.acme], everything)
    waiting = asyncio.create_task(collect(feed, count))
    await asyncio.sleep(0.05)
    feed.close()
    assert await waiting == []
    assert feed not in hub._feeds.get(world.acme, set())


async def test_the_maintenance_mover_wakes_on_bulletin_changes(
    db: Database, world: World, live: tuple[Hub, Listener]
) -> None:
    hub, _ = live
    mover = PhaseMover(db, tick_seconds=3600, hub=hub)  # without waking it would sleep for an hour
    mover.start()
    try:
        now = utcnow()
        [window] = await bulletins.create_bulletin(
            db,
            world.alice,
            bulletins.NewBulletin(
                tenant_ids=[world.acme],
                kind=BulletinKind.MAINTENANCE,
                title="Quick window",
                body="Soon.",
                phase=BulletinPhase.SCHEDULED,
                scheduled_start=now + timedelta(seconds=0.5),
                scheduled_end=now + timedelta(seconds=1.0),
                publish=True,
            ),
        )

        # Woken by the change, it moves the window through to COMPLETED long before its hourly tick
        # (in one move or two: a loaded machine may wake it only after the window has ended).
        async def completed() -> bool:
            async with db.transaction(Scope.of([world.acme])) as session:
                phase = await session.scalar(select(Bulletin.phase).where(Bulletin.id == window.id))
            return phase is BulletinPhase.COMPLETED

        await eventually_async(completed, "the window completed", every=0.05)
        assert mover.moved >= 1
    finally:
        await mover.stop()
    assert mover._on_event not in hub.watchers


async def test_the_sla_scanner_wakes_through_the_process_listener(
    test_db: TestDatabase, db: Database, world: World, live: tuple[Hub, Listener]
) -> None:
    hub, listener = live
    scanner = SlaScanner(db, max_sleep=3600, lock_retry=3600)  # without waking it would sleep for an hour
    scanner.watch(hub, listener)
    scanner.start()
    try:
        await _until(lambda: scanner.passes >= 1 and scanner.leading, "the scanner's first pass")
        # A notice on the SLA channel, relayed by the listener (the scanner listens on nothing itself).
        passes = scanner.passes
        f.owner_sql(test_db, "SELECT pg_notify(:channel, '')", {"channel": SLA_CHANNEL})
        await _until(lambda: scanner.passes > passes, "a pass woken by the SLA notice")
        # Any committed event, dispatched by the hub: a change may bring a due time closer.
        passes = scanner.passes
        await comment(db, world, "wakes the scanner")
        await _until(lambda: scanner.passes > passes, "a pass woken by the event")
    finally:
        await scanner.stop()
    assert scanner._on_event not in hub.watchers and scanner.wake not in listener.sla_watchers
