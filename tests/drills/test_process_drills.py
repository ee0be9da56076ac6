"""Failure drills of the server process, run as ``incidentdesk serve`` in a subprocess under load.

- SIGTERM: the server stops accepting, finishes the requests in flight (one is held mid-body across the
  signal and must still be answered), closes every WebSocket with 1001 (going away), and exits 0 within
  its grace period. A request it dropped was never committed.
- SIGKILL in the middle of a burst of reports and comments: after a restart every incident is
  consistent (its version counts its timeline, its state follows from it, numbers have no duplicate and
  no gap), and a webhook arrives for every committed event.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from domain.db import Database
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.drills.stream import Writers
from tests.integrations.receiver import running_receiver
from tests.live.ws import Socket
from tests.server import free_port
from tests.waiting import PATIENCE, eventually, eventually_async

ROOT = Path(__file__).resolve().parents[2]
GRACE_SECONDS = 20
KEK = "drill key encryption key"


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def serve(test_db: TestDatabase, log: Path) -> Served:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTDESK_")}
    env.update(
        INCIDENTDESK_DATABASE_URL=test_db.owner_url,
        INCIDENTDESK_APP_DATABASE_URL=test_db.app_url,
        INCIDENTDESK_PUBLIC_URL=f.ISSUER,
        INCIDENTDESK_AUDIENCE=f.AUDIENCE,
        INCIDENTDESK_KEY_ENCRYPTION_KEY=KEK,
        INCIDENTDESK_PORT=str(port),
        INCIDENTDESK_DB_POOL_SIZE="5",
        INCIDENTDESK_RATE_LIMIT_PER_MINUTE="1000000",
        INCIDENTDESK_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS),
        INCIDENTDESK_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        INCIDENTDESK_WEBHOOK_RETRY_BASE_SECONDS="0.2",
        INCIDENTDESK_WEBHOOK_RETRY_MAX_SECONDS="1",
        INCIDENTDESK_WEBHOOK_POLL_SECONDS="0.5",
        INCIDENTDESK_LOG_LEVEL="warning",
    )
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--no-migrate"],
            cwd=log.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(f"http://127.0.0.1:{port}", process, log)

    def serving() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{served.url}/readyz", timeout=PATIENCE).status_code == 200
        except httpx.HTTPError:
            return False

    eventually(serving, "the server to serve", every=0.1)
    return served


def stop(served: Served) -> None:
    if served.process.poll() is None:
        served.process.kill()
        served.process.wait(timeout=PATIENCE)


@dataclass
class World:
    tenant: uuid.UUID
    incident: str
    tokens: dict[str, str]


@pytest_asyncio.fixture(scope="module")
async def world(test_db: TestDatabase, db: Database) -> World:
    settings = f.settings_for(test_db, key_encryption_key=KEK)
    acme = await f.create_tenant(db, "acme")
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    await f.add_member(db, acme.id, "mona", Role.MANAGER)
    incident = await f.report(db, f.actor("alice", {acme.id: Role.AGENT}), acme.id, "Under load")
    tokens = await f.mint_tokens(settings, db, "alice", "mona")
    return World(acme.id, f.encode_id("Incident", incident.id), tokens)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("drills")


# ---------------------------------------------------------------- SIGTERM


async def held_request(url: str, token: str, incident: str, signalled: asyncio.Event) -> httpx.Response:
    """A comment whose body is sent in two halves, the second only after the signal: the request is in
    flight when the server is told to stop."""
    body = (
        '{"query": "mutation($id: ID!) { addComment(input: {id: $id, body: \\"held across SIGTERM\\"}) '
        '{ event { cursor } userErrors { message } } }", "variables": {"id": "' + incident + '"}}'
    ).encode()

    async def halves() -> AsyncIterator[bytes]:
        yield body[:20]
        await signalled.wait()
        yield body[20:]

    async with httpx.AsyncClient(timeout=PATIENCE) as http:
        return await http.post(
            f"{url}/graphql",
            content=halves(),
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )


async def test_sigterm_under_load(test_db: TestDatabase, world: World, logs: Path) -> None:
    served = serve(test_db, logs / "sigterm.log")
    try:
        token = world.tokens["alice"]
        sockets = [await Socket.connected(served.url, token) for _ in range(2)]
        for socket in sockets:
            await socket.subscribe("1", 'subscription { incidentEvents(tenant: "acme") { cursor } }')
        signalled = asyncio.Event()
        held = asyncio.create_task(held_request(served.url, token, world.incident, signalled))
        writers = Writers(served.url, token, world.incident, fresh_connections=True)
        writers.start()
        await eventually_async(lambda: len(writers.tally.committed) >= 10, "a steady stream of comments")
        served.process.send_signal(signal.SIGTERM)
        signalled.set()
        codes = await asyncio.gather(*(socket.close_code() for socket in sockets))
        answer = await held
        await eventually_async(lambda: writers.tally.refused >= 3, "new connections refused")
        tally = await writers.stop()
        code = await asyncio.to_thread(served.process.wait, GRACE_SECONDS + PATIENCE)
        assert code == 0, served.log.read_text()[-2000:]
        assert codes == [1001, 1001]
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["addComment"]["event"]["cursor"]
        assert tally.unclean == [], tally.unclean[:5]
        # What the server dropped unanswered (a connection it had accepted but not read when it stopped)
        # was never run; everything it answered as committed is in the database.
        bodies = {body for (body,) in f.owner_sql(test_db, "SELECT message FROM incident_events")}
        assert not (set(tally.dropped) & bodies)
        stored = {c for (c,) in f.owner_sql(test_db, "SELECT seq FROM incident_events")}
        from api.relay import decode_cursor

        assert {decode_cursor(c)[0] for c in tally.committed} <= stored
    finally:
        stop(served)


# ---------------------------------------------------------------- SIGKILL


REPORT = (
    'mutation($t: String!) { reportIncident(input: {title: $t, description: "under load"}) '
    "{ incident { id number } userErrors { message } } }"
)


async def burst(url: str, token: str, stop_after: asyncio.Event, answered: list[str]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=PATIENCE) as http:
        while not stop_after.is_set():
            try:
                response = await http.post(
                    "/graphql",
                    json={"query": REPORT, "variables": {"t": f"burst {uuid.uuid4().hex[:8]}"}},
                    headers={"authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError:
                return  # the process is gone
            if response.status_code == 200 and not response.json().get("errors"):
                answered.append(response.json()["data"]["reportIncident"]["incident"]["number"])


def consistent(test_db: TestDatabase, tenant: uuid.UUID) -> None:
    rows = f.owner_sql(
        test_db,
        "SELECT i.number, i.version, i.status, i.responded_at IS NOT NULL,"
        " (SELECT count(*) FROM incident_events e WHERE e.tenant_id = i.tenant_id AND e.incident_id = i.id),"
        " (SELECT count(*) FROM incident_events e WHERE e.tenant_id = i.tenant_id AND e.incident_id = i.id"
        "   AND e.kind = 'CREATED')"
        " FROM incidents i WHERE i.tenant_id = :t ORDER BY i.number",
        {"t": tenant},
    )
    numbers = [row[0] for row in rows]
    assert numbers == list(range(1, len(numbers) + 1)), "incident numbers have a gap or a duplicate"
    [(last,)] = f.owner_sql(
        test_db, "SELECT last_incident_number FROM tenant_counters WHERE tenant_id = :t", {"t": tenant}
    )
    assert last == len(numbers)
    for number, version, status, responded, events, created in rows:
        assert created == 1, f"INC-{number}: {created} CREATED events"
        assert version == events, f"INC-{number}: version {version} but {events} timeline events"
        # Staff comments are the only later events here: each answered the reporter.
        assert (status == "NEW") == (events == 1) and responded == (events > 1), f"INC-{number}: {status}"


async def test_sigkill_mid_burst(test_db: TestDatabase, world: World, logs: Path) -> None:
    with running_receiver() as receiver:
        served = serve(test_db, logs / "sigkill.log")
        try:
            name = "drill"
            [(base_seq,)] = f.owner_sql(
                test_db,
                "SELECT last_event_seq FROM tenant_counters WHERE tenant_id = :t",
                {"t": world.tenant},
            )
            created = f.gql_ok(
                served.url,
                world.tokens["mona"],
                'mutation($u: String!) { createWebhookEndpoint(input: {url: $u, eventKinds: ["CREATED", "COMMENTED"]})'
                " { secret userErrors { message } } }",
                {"u": receiver.target("ok", name)},
            )["createWebhookEndpoint"]
            receiver.secrets[name] = created["secret"]
            killed = asyncio.Event()
            answered: list[str] = []
            writers = Writers(served.url, world.tokens["alice"], world.incident)
            writers.start()
            bursts = [
                asyncio.create_task(burst(served.url, world.tokens["alice"], killed, answered))
                for _ in range(3)
            ]
            await eventually_async(
                lambda: len(answered) >= 15 and len(writers.tally.committed) >= 10, "a burst"
            )
            served.process.send_signal(signal.SIGKILL)
            served.process.wait(timeout=PATIENCE)
            killed.set()
            await asyncio.gather(*bursts)
            await writers.stop()
        finally:
            stop(served)

        restarted = serve(test_db, logs / "sigkill-restart.log")
        try:
            consistent(test_db, world.tenant)
            numbers = {
                n
                for (n,) in f.owner_sql(
                    test_db, "SELECT number FROM incidents WHERE tenant_id = :t", {"t": world.tenant}
                )
            }
            assert {int(n.removeprefix("INC-")) for n in answered} <= numbers
            expected = {
                f"msg_{event_id.hex}"
                for (event_id,) in f.owner_sql(
                    test_db,
                    "SELECT id FROM incident_events WHERE tenant_id = :t AND seq > :base"
                    " AND kind IN ('CREATED', 'COMMENTED')",
                    {"t": world.tenant, "base": base_seq},
                )
            }
            receipts = receiver.wait(name, lambda seen: expected <= {r.message_id for r in seen})
            assert all(r.verified for r in receipts)
        finally:
            stop(restarted)
