"""Benchmark: many WebSocket subscribers on one server process, events committed at a steady rate.

Starts an embedded PostgreSQL (or uses the cluster named by ``INCIDENTDESK_BENCH_DATABASE_URL``, an owner
URL), migrates a fresh database, serves the app with one uvicorn process, opens N graphql-transport-ws
subscribers to ``incidentEvents``, then commits comments at a steady rate and prints the delivery
latency from commit to receipt (p50, p99, max) over every delivery, and how many deliveries were lost
or repeated. Exits non-zero when any event was lost or repeated.

    python bench/subscribers.py [--subscribers 2000] [--rate 1] [--seconds 10] [--nested]

Every event goes to every subscriber, so the server delivers subscribers x rate results per second; the
latency of the last subscriber of an event is the time one process takes to render and send it to all of
them (the p50 is about half of that), plus the time to read it back from the outbox once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection, connect

from auth import Authority
from domain.db import Database, app_url_from_owner_url, create_database, to_sync_url
from domain.incidents import service as incidents
from domain.incidents.enums import Visibility
from domain.migrate import upgrade
from domain.settings import Settings
from domain.tenancy import service as tenancy
from domain.tenancy.roles import Role

ROOT = Path(__file__).resolve().parents[1]
ISSUER = "https://incidentdesk.bench"
SUBSCRIPTION = 'subscription { incidentEvents(tenant: "bench") { message } }'
# What a portal selects: the event, its incident and the incident's service (nested reads per event).
NESTED = (
    'subscription { incidentEvents(tenant: "bench") { message kind at'
    " incident { number title status priority service { name } } } }"
)


# ---------------------------------------------------------------- database and server


@contextlib.contextmanager
def cluster() -> Iterator[str]:
    configured = os.environ.get("INCIDENTDESK_BENCH_DATABASE_URL")
    if configured:
        yield configured
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="bench-pg-") as data:
        server = pgserver.get_server(data, cleanup_mode="stop")
        try:
            yield server.get_uri("postgres")
        finally:
            server.cleanup()


def fresh_database(admin_url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(to_sync_url(admin_url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    owner_url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(owner_url)
    return owner_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(owner_url: str, app_url: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "INCIDENTDESK_DATABASE_URL": owner_url,
        "INCIDENTDESK_APP_DATABASE_URL": app_url,
        "INCIDENTDESK_PUBLIC_URL": ISSUER,
        "INCIDENTDESK_MAX_SUBSCRIPTIONS_PER_CONNECTION": "1",
        # Every subscriber here is one caller: its cap and rate limit are raised past them.
        "INCIDENTDESK_MAX_SUBSCRIPTIONS_PER_PRINCIPAL": "1000000",
        "INCIDENTDESK_RATE_LIMIT_PER_MINUTE": "1000000",
    }
    # Served as in production: ``incidentdesk serve``, one process.
    command = [sys.executable, "-m", "api.cli", "serve", "--workers", "1", "--no-migrate"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    env["INCIDENTDESK_LOG_LEVEL"] = "WARNING"
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError("the server exited")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


# ---------------------------------------------------------------- seeding and committing


@dataclass
class Seed:
    tenant: uuid.UUID
    incident: uuid.UUID
    token: str


async def seed(app_url: str) -> Seed:
    db = create_database(app_url, pool_size=2)
    settings = Settings(app_database_url=app_url, public_url=ISSUER)
    try:
        tenant = await tenancy.create_tenant(db, None, slug="bench", name="Bench", timezone="UTC")
        await tenancy.add_member(
            db, None, tenant_id=tenant.id, issuer=ISSUER, subject="bench-agent", role=Role.AGENT
        )
        agent = Agent(frozenset({tenant.id}))
        incident = await incidents.report_incident(
            db, agent, incidents.NewIncident(tenant_id=tenant.id, title="Benchmark", description="")
        )
        authority = Authority(settings, db)
        token = await authority.mint("bench-agent", ttl_seconds=3600)
        await authority.aclose()
        return Seed(tenant.id, incident.id, token)
    finally:
        await db.dispose()


@dataclass(frozen=True)
class Agent:
    """The seeded AGENT, as the domain's use cases see a caller."""

    tenant_ids: frozenset[uuid.UUID]
    issuer: str = ISSUER
    subject: str = "bench-agent"
    is_operator: bool = False
    client_id: str | None = None

    def role_in(self, tenant_id: uuid.UUID) -> Role | None:
        return Role.AGENT if tenant_id in self.tenant_ids else None

    def can(self, scope: str, tenant_id: uuid.UUID) -> bool:
        return tenant_id in self.tenant_ids


class Committer:
    """Commits one comment per tick in a thread of its own, noting when each commit returned."""

    def __init__(self, app_url: str, seed: Seed) -> None:
        self.app_url = app_url
        self.seed = seed
        self.committed: dict[str, float] = {}

    async def _comment(self, db: Database, body: str) -> None:
        agent = Agent(frozenset({self.seed.tenant}))
        await incidents.add_comment(
            db, agent, incident_id=self.seed.incident, body=body, visibility=Visibility.PUBLIC
        )
        self.committed[body] = time.monotonic()

    def run(self, bodies: list[str], rate: float) -> None:
        async def go() -> None:
            db = create_database(self.app_url, pool_size=2)
            try:
                start = time.monotonic()
                for i, body in enumerate(bodies):
                    await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
                    await self._comment(db, body)
            finally:
                await db.dispose()

        asyncio.run(go())

    def in_thread(self, bodies: list[str], rate: float) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(bodies, rate), daemon=True)
        thread.start()
        return thread


# ---------------------------------------------------------------- subscribers


@dataclass
class Subscriber:
    connection: ClientConnection
    received: dict[str, list[float]] = field(default_factory=dict)

    async def listen(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.connection:
                message = json.loads(raw)
                if message.get("type") == "next":
                    body = message["payload"]["data"]["incidentEvents"]["message"]
                    self.received.setdefault(body, []).append(time.monotonic())
                elif message.get("type") == "ping":
                    await self.connection.send('{"type":"pong"}')


async def open_subscriber(url: str, token: str, query: str) -> Subscriber:
    connection = await connect(
        url.replace("http://", "ws://") + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        open_timeout=60,
        ping_interval=None,
        max_queue=None,
    )
    await connection.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    ack = json.loads(await asyncio.wait_for(connection.recv(), 60))
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"not acknowledged: {ack}")
    await connection.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
    return Subscriber(connection)


async def open_all(url: str, token: str, count: int, query: str, concurrency: int = 100) -> list[Subscriber]:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> Subscriber:
        async with gate:
            return await open_subscriber(url, token, query)

    return await asyncio.gather(*(one() for _ in range(count)))


async def wait_until(condition: object, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return bool(condition())  # type: ignore[operator]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# ---------------------------------------------------------------- the run


async def run(args: argparse.Namespace) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, args.subscribers * 2 + 1000))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    with cluster() as admin_url:
        owner_url = fresh_database(admin_url)
        app_url = app_url_from_owner_url(owner_url)
        seeded = await seed(app_url)
        with server(owner_url, app_url) as url:
            began = time.monotonic()
            query = NESTED if args.nested else SUBSCRIPTION
            subscribers = await open_all(url, seeded.token, args.subscribers, query)
            listeners = [asyncio.create_task(s.listen()) for s in subscribers]
            print(f"{len(subscribers)} subscribers connected in {time.monotonic() - began:.1f}s", flush=True)

            # Warm up until every subscription is live: a marker that everyone receives.
            for attempt in range(100):
                marker = f"warm-up {attempt}"
                await asyncio.to_thread(Committer(app_url, seeded).run, [marker], 1.0)
                if await wait_until(lambda m=marker: all(m in s.received for s in subscribers), 5):  # type: ignore[misc]
                    break
            else:
                raise RuntimeError("the subscriptions did not all go live")

            count = max(1, int(args.rate * args.seconds))
            bodies = [f"event {i}" for i in range(count)]
            committer = Committer(app_url, seeded)
            print(f"committing {count} events at {args.rate}/s to {len(subscribers)} subscribers", flush=True)
            thread = committer.in_thread(bodies, args.rate)
            await asyncio.to_thread(thread.join)
            await wait_until(
                lambda: all(all(b in s.received for b in bodies) for s in subscribers), args.grace
            )

            latencies: list[float] = []
            lost = repeated = 0
            for s in subscribers:
                for body in bodies:
                    times = s.received.get(body, [])
                    if not times:
                        lost += 1
                        continue
                    repeated += len(times) - 1
                    latencies.append((times[0] - committer.committed[body]) * 1000)
            for task in listeners:
                task.cancel()
            await asyncio.gather(*(s.connection.close() for s in subscribers), return_exceptions=True)

    deliveries = len(subscribers) * count
    print(f"deliveries: {deliveries - lost} of {deliveries}")
    print(
        f"latency commit->receipt ms: p50 {percentile(latencies, 0.5):.1f}  p99 {percentile(latencies, 0.99):.1f}"
        f"  max {max(latencies, default=float('nan')):.1f}  mean {statistics.fmean(latencies) if latencies else float('nan'):.1f}"
    )
    print(f"events lost: {lost}")
    print(f"events repeated: {repeated}")
    return 0 if lost == 0 and repeated == 0 else 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=1.0, help="events committed per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to commit")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds to wait for stragglers")
    parser.add_argument(
        "--nested", action="store_true", help="select the incident and its service, as portals do"
    )
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
