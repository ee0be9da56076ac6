"""Failure drills of the database under a steady stream of mutations and subscriptions.

This module runs its own embedded PostgreSQL (the run's shared one serves the other test files in
parallel and must never be restarted), migrated from nothing, and a real server on it.

- The service's connections killed, and kept from coming back for a moment (the application role may
  not log in while the drill holds it): requests in flight fail cleanly (503 or ``UNAVAILABLE``, never a
  masked fault), ``/readyz`` says not ready, and once the role may log in again the service recovers by
  itself.
- The PostgreSQL server stopped and started again: the same, across a real restart.

After each: every comment answered as committed is in the database, and every subscriber, resuming with
its last cursor whenever it had to, received every committed event exactly once, in order.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio

from domain.db import app_url_from_owner_url, create_database
from domain.migrate import upgrade
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.drills.stream import COMMENT, Follower, Tally, Writers, cursors
from tests.waiting import eventually_async

pgserver = pytest.importorskip("pgserver")


@dataclass
class OwnPostgres:
    server: Any
    pgdata: Path
    running: bool = True

    def run_pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.pgdata, user=self.server.system_user, timeout=120)

    def stop(self) -> None:
        self.run_pg_ctl("-w", "-m", "fast", "stop")
        self.running = False

    def start(self) -> None:
        # The options pgserver started it with: no TCP, its socket directory, its log.
        socket_dir = parse_qs(urlsplit(self.server.get_uri()).query)["host"][0]
        self.run_pg_ctl("-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(self.server.log), "start")
        self.running = True


@pytest.fixture(scope="module")
def postgres() -> Iterator[OwnPostgres]:
    pgdata = Path(tempfile.mkdtemp(prefix="incidentdesk-drill-pg-"))
    server = pgserver.get_server(str(pgdata), cleanup_mode="stop")
    try:
        yield OwnPostgres(server, pgdata)
    finally:
        server.cleanup()
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture(scope="module")
def drill_db(postgres: OwnPostgres) -> TestDatabase:
    postgres.server.psql('CREATE DATABASE "drills";')
    owner_url = postgres.server.get_uri("drills")
    upgrade(owner_url)
    return TestDatabase(name="drills", owner_url=owner_url, app_url=app_url_from_owner_url(owner_url))


@pytest.fixture(scope="module")
def settings(drill_db: TestDatabase) -> Settings:
    return f.settings_for(
        drill_db,
        live_reconnect_min_seconds=0.05,
        live_reconnect_max_seconds=0.5,
        rate_limit_per_minute=1_000_000,
    )


@dataclass
class World:
    incident: str
    token: str


@pytest_asyncio.fixture(scope="module")
async def world(drill_db: TestDatabase, settings: Settings) -> AsyncIterator[World]:
    database = create_database(drill_db.app_url, pool_size=2)
    try:
        acme = await f.create_tenant(database, "acme")
        await f.add_member(database, acme.id, "alice", Role.AGENT)
        incident = await f.report(database, f.actor("alice", {acme.id: Role.AGENT}), acme.id, "Steady")
        yield World(f.encode_id("Incident", incident.id), await f.mint_token(settings, database, "alice"))
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def live(drill_db: TestDatabase, settings: Settings, world: World) -> Iterator[f.LiveApp]:
    with f.app_server(drill_db, settings) as served:
        yield served


async def ready(live: f.LiveApp) -> int:
    async with httpx.AsyncClient(timeout=30) as http:
        return (await http.get(f"{live.url}/readyz")).status_code


async def base_cursor(live: f.LiveApp, world: World) -> str:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{live.url}/graphql",
            json={"query": COMMENT, "variables": {"id": world.incident, "body": f"base {uuid.uuid4()}"}},
            headers={"authorization": f"Bearer {world.token}"},
        )
    cursor: str = response.json()["data"]["addComment"]["event"]["cursor"]
    return cursor


def stored_since(drill_db: TestDatabase, after: str) -> list[str]:
    from api.relay import decode_cursor

    [seq] = decode_cursor(after)
    return cursors(
        f.owner_sql(drill_db, "SELECT seq FROM incident_events WHERE seq > :s ORDER BY seq", {"s": seq})
    )


async def drill(live: f.LiveApp, world: World, drill_db: TestDatabase, outage: Any, recovery: Any) -> None:
    after = await base_cursor(live, world)
    followers = [Follower(live.url, world.token, after) for _ in range(2)]
    for follower in followers:
        follower.start()
    writers = Writers(live.url, world.token, world.incident)
    writers.start()
    tally: Tally = writers.tally
    try:
        await eventually_async(lambda: len(tally.committed) >= 10, "a steady stream of comments")
        await outage()
        await eventually_async(
            lambda: tally.clean_failures >= 3, "requests failing cleanly during the outage"
        )

        async def not_ready() -> bool:
            return await ready(live) == 503

        await eventually_async(not_ready, "/readyz saying not ready")
        committed_before = len(tally.committed)
        await recovery()
        await eventually_async(lambda: len(tally.committed) >= committed_before + 10, "the service recovered")
        assert await ready(live) == 200
    finally:
        await writers.stop()
    assert tally.unclean == [], tally.unclean[:5]
    assert tally.dropped == [], "a request went unanswered though the server kept running"

    stored = stored_since(drill_db, after)
    missing = set(tally.committed) - set(stored)
    assert not missing, f"{len(missing)} comments answered as committed are not in the database"
    try:
        for follower in followers:
            await eventually_async(
                lambda follower=follower: len(follower.received) >= len(stored), "the followers caught up"
            )
            assert follower.received == stored, "an event missing, repeated or out of order"
    finally:
        for follower in followers:
            await follower.stop()


def owner_sql(drill_db: TestDatabase, sql: str) -> list[Any]:
    return f.owner_sql(drill_db, sql)


async def test_killed_connections(live: f.LiveApp, world: World, drill_db: TestDatabase) -> None:
    async def outage() -> None:
        # The role may not log in while the drill holds it, so the outage lasts until recovery() ends it.
        owner_sql(drill_db, "ALTER ROLE incidentdesk_app NOLOGIN")
        killed = owner_sql(
            drill_db,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'incidentdesk_app'",
        )
        assert killed, "the service had no connection to kill"

    async def recovery() -> None:
        owner_sql(drill_db, "ALTER ROLE incidentdesk_app LOGIN")

    try:
        await drill(live, world, drill_db, outage, recovery)
    finally:
        owner_sql(drill_db, "ALTER ROLE incidentdesk_app LOGIN")


async def test_postgres_restarted(
    live: f.LiveApp, world: World, drill_db: TestDatabase, postgres: OwnPostgres
) -> None:
    async def outage() -> None:
        await asyncio.to_thread(postgres.stop)

    async def recovery() -> None:
        await asyncio.to_thread(postgres.start)

    try:
        await drill(live, world, drill_db, outage, recovery)
    finally:
        if not postgres.running:
            postgres.start()
