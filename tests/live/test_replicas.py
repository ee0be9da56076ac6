"""Two replicas: two uvicorn processes on loopback against one database.

A subscriber on the first receives what is committed through the second, and keeps receiving every
event exactly once, in order, when PostgreSQL drops the replicas' LISTEN connections mid-stream.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from api.relay import encode_cursor
from domain.db import Database, Scope
from domain.incidents.models import IncidentEvent
from domain.outbox import LISTENER_APPLICATION_NAME
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.live.ws import Socket
from tests.server import free_port
from tests.waiting import PATIENCE, eventually, eventually_async

ROOT = Path(__file__).resolve().parents[2]
# The first reconnection attempt waits this long, so that events commit while nobody listens (the test
# checks from the database's own records that some did).
RECONNECT_SECONDS = 2.0


@dataclass
class World:
    incident: str  # global ID of acme's incident
    tokens: dict[str, str]


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@pytest_asyncio.fixture(scope="module")
async def world(test_db: TestDatabase, db: Database) -> World:
    settings = f.settings_for(test_db)
    acme = await f.create_tenant(db, "acme")
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    incident = await f.report(db, f.actor("alice", {acme.id: Role.AGENT}), acme.id, "Replicated")
    return World(f.encode_id("Incident", incident.id), await f.mint_tokens(settings, db, "alice"))


def listeners(test_db: TestDatabase) -> int:
    rows = f.owner_sql(
        test_db,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND datname = current_database()",
        {"name": LISTENER_APPLICATION_NAME},
    )
    return int(rows[0][0])


def start_replica(test_db: TestDatabase, log: Path) -> Replica:
    port = free_port()
    env = {
        **os.environ,
        "INCIDENTDESK_DATABASE_URL": test_db.owner_url,
        "INCIDENTDESK_APP_DATABASE_URL": test_db.app_url,
        "INCIDENTDESK_PUBLIC_URL": f.ISSUER,
        "INCIDENTDESK_AUDIENCE": f.AUDIENCE,
        "INCIDENTDESK_DB_POOL_SIZE": "5",
        "INCIDENTDESK_LIVE_RECONNECT_MIN_SECONDS": str(RECONNECT_SECONDS),
        "INCIDENTDESK_LOG_LEVEL": "warning",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "api.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Replica(f"http://127.0.0.1:{port}", process, log)


def wait_until_serving(replica: Replica) -> None:
    def serving() -> bool:
        assert replica.process.poll() is None, replica.log.read_text()
        try:
            return httpx.get(f"{replica.url}/healthz", timeout=PATIENCE).status_code == 200
        except httpx.HTTPError:
            return False

    eventually(serving, f"the replica at {replica.url} to serve", every=0.1)


@pytest.fixture(scope="module")
def replicas(
    test_db: TestDatabase, world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Replica]]:
    logs = tmp_path_factory.mktemp("replicas")
    started = [start_replica(test_db, logs / f"replica-{i}.log") for i in range(2)]
    try:
        for replica in started:
            wait_until_serving(replica)
        eventually(lambda: listeners(test_db) >= 2, "the replicas' LISTEN connections", every=0.1)
        yield started
    finally:
        for replica in started:
            replica.process.terminate()
        for replica in started:
            try:
                replica.process.wait(timeout=PATIENCE)
            except subprocess.TimeoutExpired:
                replica.process.kill()


SUBSCRIPTION = 'subscription { incidentEvents(tenant: "acme") { cursor message } }'
COMMENT = "mutation($id: ID!, $body: String!) { addComment(input: {id: $id, body: $body}) { event { cursor } userErrors { message } } }"


async def post_comment(replica: Replica, world: World, body: str) -> str:
    async with httpx.AsyncClient(base_url=replica.url, timeout=PATIENCE) as client:
        response = await client.post(
            "/graphql",
            json={"query": COMMENT, "variables": {"id": world.incident, "body": body}},
            headers={"authorization": f"Bearer {world.tokens['alice']}"},
        )
    payload = response.json()["data"]["addComment"]
    assert payload["userErrors"] == [], payload
    cursor: str = payload["event"]["cursor"]
    return cursor


async def stored_after(db: Database, cursor: str) -> list[str]:
    from api.relay import decode_cursor

    [seq] = decode_cursor(cursor)
    async with db.transaction(Scope.of(await db.all_tenant_ids())) as session:
        seqs = await session.scalars(
            select(IncidentEvent.seq).where(IncidentEvent.seq > seq).order_by(IncidentEvent.seq)
        )
        return [encode_cursor([s]) for s in seqs]


async def started_subscription(first: Replica, second: Replica, world: World) -> tuple[Socket, str]:
    """A subscriber on ``first``, proven live by a marker committed through ``second``: markers are sent
    until one arrives (a marker committed before the feed opened is never delivered)."""
    socket = await Socket.connected(first.url, world.tokens["alice"])
    await socket.subscribe("1", SUBSCRIPTION)
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        marker = await post_comment(second, world, f"marker {uuid.uuid4()}")
        try:
            received = (await socket.next("1", within=0.5))["incidentEvents"]
        except TimeoutError:
            continue  # not open yet, or just slow: either way the next marker tells
        while received["cursor"] != marker:
            received = (await socket.next("1"))["incidentEvents"]
        return socket, marker
    raise AssertionError("the subscription never went live")


async def test_a_subscriber_on_one_replica_receives_what_the_other_commits(
    replicas: list[Replica], world: World
) -> None:
    first, second = replicas
    socket, _ = await started_subscription(first, second, world)
    cursor = await post_comment(second, world, "committed on the second replica")
    received = (await socket.next("1"))["incidentEvents"]
    assert received == {"cursor": cursor, "message": "committed on the second replica"}
    await socket.close()


async def test_killing_the_listen_connections_mid_stream_loses_and_repeats_nothing(
    test_db: TestDatabase, db: Database, replicas: list[Replica], world: World
) -> None:
    first, second = replicas
    socket, marker = await started_subscription(first, second, world)
    stop = asyncio.Event()
    posted = [0]

    async def stream() -> None:
        while not stop.is_set():
            await post_comment(second, world, f"steady {posted[0]}")
            posted[0] += 1

    writing = asyncio.create_task(stream())
    await eventually_async(lambda: posted[0] >= 10, "a steady stream of comments")
    killed = f.owner_sql(
        test_db,
        "SELECT pg_terminate_backend(pid), now() FROM pg_stat_activity"
        " WHERE application_name = :name AND datname = current_database()",
        {"name": LISTENER_APPLICATION_NAME},
    )
    assert len(killed) == 2 and all(ok for ok, _ in killed)
    killed_at = killed[0][1]
    await eventually_async(lambda: listeners(test_db) >= 2, "the replicas reconnected", every=0.1)
    after_reconnect = posted[0]
    await eventually_async(lambda: posted[0] >= after_reconnect + 10, "comments after the reconnection")
    stop.set()
    await writing
    # The drill happened: comments committed while no replica was listening (the database's clock says
    # when the new LISTEN connections began).
    [(unheard,)] = f.owner_sql(
        test_db,
        "SELECT count(*) FROM incident_events WHERE at > :killed AND at < ("
        " SELECT min(backend_start) FROM pg_stat_activity"
        " WHERE application_name = :name AND datname = current_database())",
        {"killed": killed_at, "name": LISTENER_APPLICATION_NAME},
    )
    assert unheard > 0, "the replicas reconnected before anything committed unheard"
    expected = await stored_after(db, marker)
    got = [(await socket.next("1"))["incidentEvents"]["cursor"] for _ in expected]
    assert got == expected
    await socket.nothing_more(within=1.0)
    await socket.close()
