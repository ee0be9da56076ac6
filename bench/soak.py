"""Soak: many concurrent clients of mixed roles against one server process, for minutes.

Starts an embedded PostgreSQL (or uses the cluster named by ``INCIDENTDESK_BENCH_DATABASE_URL``, an owner
URL), migrates a fresh database, seeds two tenants with customers, agents and managers, serves the app
with one ``incidentdesk serve`` process, then runs N clients for the given time. Each client is one
member (its own token, so the per-principal rate limit applies as in production) doing what its role
does all day: customers list and read their incidents, report some and comment; agents list, read
timelines, comment and acknowledge; managers also read SLA reports and integrations. A few clients hold
a live subscription.

Prints requests per second, latency p50/p95/p99/max, the errors (anything but a 200 without errors,
and the 429s the rate limit gives by design, which are counted apart), and the server's resident memory
after warm-up and at the end. Exits non-zero on any error or on memory growth of 10% or more.

    python bench/soak.py [--clients 200] [--seconds 300] [--warmup 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from live.servers import (  # the same embedded database and ports as the live benchmark
    cluster,
    free_port,
    fresh_database,
)
from websockets.asyncio.client import connect

from auth import Authority
from domain.db import app_url_from_owner_url, create_database
from domain.settings import Settings
from domain.tenancy import service as tenancy
from domain.tenancy.roles import Role

ROOT = Path(__file__).resolve().parents[1]
ISSUER = "https://incidentdesk.soak"
KEK = "soak key encryption key"


@contextlib.contextmanager
def server(owner_url: str, app_url: str, data_dir: str) -> Iterator[tuple[str, psutil.Process]]:
    port = free_port()
    env = {
        **os.environ,
        "INCIDENTDESK_DATABASE_URL": owner_url,
        "INCIDENTDESK_APP_DATABASE_URL": app_url,
        "INCIDENTDESK_PUBLIC_URL": ISSUER,
        "INCIDENTDESK_KEY_ENCRYPTION_KEY": KEK,
        "INCIDENTDESK_DATA_DIR": data_dir,
        "INCIDENTDESK_PORT": str(port),
        "INCIDENTDESK_DB_POOL_SIZE": "20",
        "INCIDENTDESK_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--no-migrate"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError("the server exited")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        yield url, psutil.Process(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass(frozen=True)
class Member:
    tenant: str
    role: Role
    token: str


async def seed(app_url: str, clients: int, data_dir: str) -> list[Member]:
    db = create_database(app_url, pool_size=2)
    settings = Settings(
        app_database_url=app_url, public_url=ISSUER, key_encryption_key=KEK, data_dir=Path(data_dir)
    )
    authority = Authority(settings, db)
    members = []
    try:
        tenants = {
            slug: await tenancy.create_tenant(db, None, slug=slug, name=slug.title(), timezone="UTC")
            for slug in ("acme", "globex")
        }
        roles = [Role.CUSTOMER] * 6 + [Role.AGENT] * 3 + [Role.MANAGER]
        for i in range(clients):
            slug = ("acme", "globex")[i % 2]
            role = roles[i % len(roles)]
            subject = f"soak-{i}"
            await tenancy.add_member(
                db, None, tenant_id=tenants[slug].id, issuer=ISSUER, subject=subject, role=role
            )
            members.append(Member(slug, role, await authority.mint(subject, ttl_seconds=86_400)))
    finally:
        await authority.aclose()
        await db.dispose()
    return members


LIST = "{ incidents(first: 20) { totalCount edges { node { id number title status priority } } } }"
TIMELINE = "query($id: ID!) { node(id: $id) { ... on Incident { title timeline(first: 20) { edges { node { kind message } } } } } }"
REPORT = 'mutation($t: String!) { reportIncident(input: {title: $t, description: "soak"}) { incident { id } userErrors { code } } }'
COMMENT = "mutation($id: ID!, $b: String!) { addComment(input: {id: $id, body: $b}) { event { id } userErrors { code } } }"
ACK = (
    "mutation($id: ID!) { acknowledgeIncident(input: {id: $id}) { incident { status } userErrors { code } } }"
)
SLA = '{ slaReport(from: "2026-01-01T00:00:00Z", to: "2027-01-01T00:00:00Z") { incidentCount } integrationKeys { id } }'
FOLLOW = "subscription { incidentEvents { cursor } }"


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    throttled: int = 0
    errors: Counter[str] = field(default_factory=Counter)


async def client(url: str, member: Member, until: float, results: Results, rng: random.Random) -> None:
    headers = {"authorization": f"Bearer {member.token}"}
    known: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as http:
        while time.monotonic() < until:
            roll = rng.random()
            if roll < 0.45 or not known:
                query, variables = LIST, {}
            elif roll < 0.70:
                query, variables = TIMELINE, {"id": rng.choice(known)}
            elif roll < 0.80:
                query, variables = REPORT, {"t": f"soak {uuid.uuid4().hex[:6]}"}
            elif roll < 0.92:
                query, variables = COMMENT, {"id": rng.choice(known), "b": "still happening"}
            elif member.role is Role.CUSTOMER:
                query, variables = LIST, {}
            elif member.role is Role.AGENT or roll < 0.96:
                query, variables = ACK, {"id": rng.choice(known)}
            else:
                query, variables = SLA, {}
            started = time.perf_counter()
            try:
                response = await http.post("/graphql", json={"query": query, "variables": variables})
            except httpx.HTTPError as error:
                results.errors[type(error).__name__] += 1
                continue
            elapsed = time.perf_counter() - started
            if response.status_code == 429:
                results.throttled += 1
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            results.latencies.append(elapsed)
            body = response.json() if response.status_code == 200 else {}
            if response.status_code != 200 or body.get("errors"):
                results.errors[f"{response.status_code} {str(body.get('errors'))[:80]}"] += 1
                continue
            data = body["data"]
            if "incidents" in data:
                known = [edge["node"]["id"] for edge in data["incidents"]["edges"]] or known
            await asyncio.sleep(rng.uniform(0.05, 0.3))


async def follower(url: str, member: Member, until: float, results: Results) -> None:
    ws = url.replace("http://", "ws://") + "/graphql"
    async with connect(ws, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {member.token}"}}
        await socket.send(json.dumps(init))
        await socket.recv()
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": FOLLOW}}))
        while time.monotonic() < until:
            try:
                await asyncio.wait_for(socket.recv(), timeout=max(0.1, until - time.monotonic()))
            except TimeoutError:
                break


async def soak(
    url: str, process: psutil.Process, members: list[Member], seconds: float, warmup: float
) -> int:
    results = Results()
    rng = random.Random(7)
    start = time.monotonic()
    until = start + seconds
    tasks = [
        asyncio.create_task(client(url, m, until, results, random.Random(rng.random()))) for m in members
    ]
    tasks += [asyncio.create_task(follower(url, m, until, results)) for m in members[:10]]
    await asyncio.sleep(min(warmup, seconds / 2))
    warm = process.memory_info().rss
    await asyncio.gather(*tasks)
    end = process.memory_info().rss
    elapsed = time.monotonic() - start
    latencies = sorted(results.latencies)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    growth = (end - warm) / warm
    print(
        f"clients {len(members)}, {elapsed:.0f} s, {len(latencies)} answers ({len(latencies) / elapsed:.0f}/s)"
    )
    print(
        f"latency p50 {quantiles[49] * 1000:.1f} ms, p95 {quantiles[94] * 1000:.1f} ms,"
        f" p99 {quantiles[98] * 1000:.1f} ms, max {latencies[-1] * 1000 if latencies else 0:.1f} ms"
    )
    print(f"429 by design: {results.throttled}; errors: {sum(results.errors.values())}")
    for error, count in results.errors.most_common(10):
        print(f"  {count} x {error}")
    print(
        f"server memory: {warm / 2**20:.1f} MiB after warm-up, {end / 2**20:.1f} MiB at the end ({growth:+.1%})"
    )
    failed = bool(results.errors) or growth >= 0.10
    print("FAILED" if failed else "ok")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--warmup", type=float, default=30.0)
    args = parser.parse_args()
    with cluster() as admin_url, tempfile.TemporaryDirectory(prefix="soak-data-") as data_dir:
        owner_url = fresh_database(admin_url)
        app_url = app_url_from_owner_url(owner_url)
        members = asyncio.run(seed(app_url, args.clients, data_dir))
        with server(owner_url, app_url, data_dir) as (url, process):
            return asyncio.run(soak(url, process, members, args.seconds, args.warmup))


if __name__ == "__main__":
    sys.exit(main())
