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

ROOT = Path(__file__).resolve().parents[2]
# The first reconnection attempt waits this long, so that events certainly commit while nobody listens.
# Long enough that the test sees both replicas deaf before they reconnect, even on a loaded machine.
RECONNECT_SECONDS = 4.0


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
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert replica.process.poll() is None, replica.log.read_text()
        try:
            if httpx.get(f"{replica.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"replica did not start: {replica.log.read_text()}")


@pytest.fixture(scope="module")
def replicas(
    test_db: TestDatabase, world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Replica]]:
    logs = tmp_path_factory.mktemp("replicas")
    started = [start_replica(test_db, logs / f"replica-{i}.log") for i in range(2)]
    try:
        for replica in started:
            wait_until_serving(replica)
        deadline = time.monotonic() + 20
        while listeners(test_db) < 2:
            assert time.monotonic() < deadline, "the replicas' LISTEN connections did not appear"
            time.sleep(0.1)
        yield started
    finally:
        for replica in started:
            replica.process.terminate()
        for replica in started:
            try:
                replica.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                replica.process.kill()


SUBSCRIPTION = 'subscription { incidentEvents(tenant: "acme") { cursor message } }'
COMMENT = "mutation($id: ID!, $body: String!) { addComment(input: {id: $id, body: $body}) { event { cursor } userErrors { message } } }"


async def post_comment(replica: Replica, world: World, body: str) -> str:
    async with httpx.AsyncClient(base_url=replica.url, timeout=30) as client:
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
    """A subscriber on ``first``, proven live by a marker committed through ``second``."""
    socket = await Socket.connected(first.url, world.tokens["alice"])
    await socket.subscribe("1", SUBSCRIPTION)
    for _attempt in range(50):
        marker = await post_comment(second, world, f"marker {uuid.uuid4()}")
        try:
            received = (await socket.next("1", within=0.5))["incidentEvents"]
        except TimeoutError:
            continue  # the subscription was not open yet; the next marker will tell
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

    async def stream() -> int:
        count = 0
        while not stop.is_set():
            await post_comment(second, world, f"steady {count}")
            count += 1
            await asyncio.sleep(0.02)
        return count

    writing = asyncio.create_task(stream())
    await asyncio.sleep(0.5)
    killed = f.owner_sql(
        test_db,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = :name AND datname = current_database()",
        {"name": LISTENER_APPLICATION_NAME},
    )
    assert len(killed) == 2 and all(ok for (ok,) in killed)
    await asyncio.sleep(0.5)
    assert listeners(test_db) == 0, "the replicas reconnected before events could commit unheard"
    deadline = time.monotonic() + 20
    while listeners(test_db) < 2:
        assert time.monotonic() < deadline, "the replicas did not reconnect"
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    stop.set()
    assert await writing > 5
    expected = await stored_after(db, marker)
    got = [(await socket.next("1"))["incidentEvents"]["cursor"] for _ in expected]
    assert got == expected
    await socket.nothing_more(within=1.0)
    await socket.close()
