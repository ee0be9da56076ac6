"""Benchmark: incidentdesk's write paths that take bursts, on one server process.

- ``reportIncident`` with N clients (default 32) all on one tenant, where every report queues on the
  tenant's numbering counter, then spread over 32 tenants; afterwards the numbers of the one tenant
  must run without a gap or a duplicate up to its counter;
- ``POST /v2/enqueue`` (PagerDuty Events API v2 alert intake) with routing keys made by a MANAGER through
  ``createIntegrationKey``: every other event repeats one of 20 dedup keys per routing key (an ALERT_RECEIVED
  on the open incident), the others carry new keys (a new MONITORING incident each). The intake answers
  202 once an alert is stored and the same process applies it right after: the table's req/s is the
  accepted rate (target: >= 1,000 events/s), measured while the worker applies alongside; then the run
  waits until every accepted alert is applied and prints the applied rate (from the start of the load
  until the last alert was applied), and checks that every accepted alert landed exactly once. The
  per-routing-key intake rate limit is raised far above what is reached.

Every run writes into a database of its own, made afresh (tenants, people and a small history from
bench/datagen.py), so the read benchmark's data never changes.

    python bench/write_path.py [--seconds 10] [--connections 32] [--routing-keys 10]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datagen
import httpx
from harness import ROOT, load
from harness.cluster import Cluster, open_cluster
from harness.cpu import CpuMeter
from harness.measure import Measured, measure
from harness.report import Table, environment, fmt, print_environment, target
from harness.servers import Server, incidentdesk
from harness.tokens import mint

DATABASE = "bench_writes"
# Enough history that counters and indexes are not empty; small, so a fresh copy takes seconds.
SIZE = datagen.Size(tenants=50, services=1000, incidents=10_000, events=5)
SPREAD = 32

REPORT = (
    'mutation { reportIncident(input: {tenant: "%s", title: "Checkout returns errors",'
    ' description: "Reported by the write benchmark", impact: HIGH, urgency: MEDIUM})'
    " { incident { number } userErrors { field message code } } }"
)
INTEGRATION_KEY = (
    'mutation { createIntegrationKey(input: {tenant: "%s", name: "Bench alerts"})'
    " { integrationKey { routingKey } userErrors { field message code } } }"
)


def alert(routing_key: str) -> str:
    return json.dumps(
        {
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": load.DEDUP_PLACEHOLDER,
            "payload": {"summary": "Disk almost full on db-1", "source": "db-1", "severity": "warning"},
        }
    )


def graphql(server: Server, token: str, query: str) -> dict[str, Any]:
    answer = httpx.post(
        server.graphql_url, json={"query": query}, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    body: dict[str, Any] = answer.json()
    if answer.status_code != 200 or body.get("errors"):
        raise SystemExit(f"{query[:60]}... answered {answer.status_code}: {json.dumps(body)[:1000]}")
    return body


def routing_keys(server: Server, manager_token: str, count: int) -> list[str]:
    keys = []
    for index in range(1, count + 1):
        payload = graphql(server, manager_token, INTEGRATION_KEY % datagen.tenant_slug(index))
        created = payload["data"]["createIntegrationKey"]
        if created["userErrors"]:
            raise SystemExit(f"createIntegrationKey: {created['userErrors']}")
        keys.append(created["integrationKey"]["routingKey"])
    return keys


HEADERS = (
    "workload",
    "clients",
    "req/s",
    "p50 ms",
    "p99 ms",
    "server CPU ms/req",
    "PostgreSQL CPU ms/req",
    "errors",
)


def row(table: Table, name: str, connections: int, m: Measured) -> None:
    r = m.result
    table.row(
        [
            name,
            str(connections),
            fmt(r.rps),
            fmt(r.p50_ms, 2),
            fmt(r.p99_ms, 2),
            fmt(m.server_per_request, 2),
            fmt(m.postgres_per_request, 2),
            str(r.errors),
        ]
    )
    for sample in r.samples[:2]:
        print(f"<!-- error: {sample[:300]} -->", flush=True)


def numbering(cluster: Cluster, slug: str) -> str:
    """The one tenant's numbers after the burst: 1..counter, each once."""
    with cluster.connect(DATABASE, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT i.number), max(i.number), min(c.last_incident_number)"
            " FROM incidents i JOIN tenants t ON t.id = i.tenant_id"
            " JOIN tenant_counters c ON c.tenant_id = t.id WHERE t.slug = %s",
            (slug,),
        ).fetchone()
    assert row is not None
    count, distinct, highest, counter = row
    verdict = "contiguous" if count == distinct == highest == counter else "GAPS OR DUPLICATES"
    return f"{slug}: {count:,} incidents numbered 1..{highest:,}, counter at {counter:,}: {verdict}"


def alert_counts(cluster: Cluster) -> tuple[int, int, int]:
    """(accepted, still pending, alerts counted on incidents)."""
    with cluster.connect(DATABASE, autocommit=True) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM alerts), (SELECT count(*) FROM alerts WHERE processed_at IS NULL),"
            " (SELECT coalesce(sum(alert_count), 0) FROM incidents WHERE alert_dedup_key NOT LIKE 'gen-%%')"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def wait_applied(cluster: Cluster) -> None:
    """Until the server has applied every alert it accepted (progress on stderr)."""
    shown = time.monotonic()
    while True:
        accepted, pending, _ = alert_counts(cluster)
        if pending == 0:
            return
        if time.monotonic() - shown > 10:
            print(
                f"  applying: {pending:,} of {accepted:,} alerts still pending", file=sys.stderr, flush=True
            )
            shown = time.monotonic()
        time.sleep(0.2)


@dataclass
class Intake:
    measured: Measured
    applied: int
    seconds: float

    @property
    def applied_rate(self) -> float:
        return self.applied / self.seconds if self.seconds > 0 else 0.0


def measure_intake(
    cluster: Cluster,
    server: Server,
    workload: load.Workload,
    *,
    seconds: float,
    connections: int,
    generator: str,
) -> Intake:
    """The load, then the wait until every alert it brought is applied; CPU is charged for both."""
    wait_applied(cluster)
    before, _, _ = alert_counts(cluster)
    meter = CpuMeter({"server": server.pid, "postgres": cluster.postmaster_pid})
    started = time.monotonic()
    meter.start()
    result = load.run(workload, connections=connections, seconds=seconds, generator=generator)
    wait_applied(cluster)
    finished = time.monotonic()
    used = meter.stop()
    server.check_alive()
    accepted, _, _ = alert_counts(cluster)
    return Intake(Measured(result, used["server"], used["postgres"]), accepted - before, finished - started)


def intake_outcome(cluster: Cluster) -> str:
    accepted, pending, counted = alert_counts(cluster)
    verdict = "each once" if counted == accepted and pending == 0 else "LOST OR DOUBLED"
    return f"{accepted:,} alerts accepted, {counted:,} counted on incidents, {pending:,} pending: {verdict}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--routing-keys", type=int, default=10)
    parser.add_argument(
        "--load-generator", choices=("auto", "wrk", "python"), default="auto", dest="generator"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument(
        "--database-url", help="a cluster to use (owner or superuser URL) instead of the embedded one"
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".incidentdesk" / "bench")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    generator = load.available_generator(args.generator)
    verdicts = []
    with open_cluster(args.database_url, args.data_dir) as cluster:
        print(f"preparing {DATABASE} ({SIZE.describe()}) ...", file=sys.stderr, flush=True)
        owner_url = cluster.fresh(DATABASE)
        app_url = cluster.app_url(DATABASE)
        datagen.generate(owner_url, app_url, SIZE, progress=False)
        agent = mint(app_url, datagen.AGENT)
        manager = mint(app_url, datagen.MANAGER)
        print("## incidentdesk write paths\n")
        print_environment(
            environment(
                [
                    (
                        "PostgreSQL",
                        f"{cluster.server_version()} ({'embedded pgserver' if cluster.embedded else 'external cluster'})",
                    ),
                    ("incidentdesk", "incidentdesk serve --workers 1 (one uvicorn process)"),
                    (
                        "load generator",
                        load.wrk_version()
                        if generator == "wrk"
                        else "Python asyncio (bench/harness/loadgen.py)",
                    ),
                    ("data", f"a fresh {DATABASE}: {SIZE.describe()}"),
                ]
            )
        )
        with incidentdesk(owner_url, app_url, args.data_dir / "logs") as server:
            auth = {"Authorization": f"Bearer {agent}"}

            def run(workload: load.Workload) -> Measured:
                measure(
                    server,
                    workload,
                    postmaster_pid=cluster.postmaster_pid,
                    seconds=args.warmup,
                    connections=args.connections,
                    generator=generator,
                )
                return measure(
                    server,
                    workload,
                    postmaster_pid=cluster.postmaster_pid,
                    seconds=args.seconds,
                    connections=args.connections,
                    generator=generator,
                )

            one = datagen.tenant_slug(1)
            table = Table(HEADERS)
            reports_one = run(
                load.Workload(
                    "reportIncident", server.graphql_url, (json.dumps({"query": REPORT % one}),), auth
                )
            )
            row(table, f"reportIncident, one tenant ({one})", args.connections, reports_one)
            spread = tuple(
                json.dumps({"query": REPORT % datagen.tenant_slug(i)}) for i in range(1, SPREAD + 1)
            )
            reports_spread = run(load.Workload("reportIncident", server.graphql_url, spread, auth))
            row(table, f"reportIncident, {SPREAD} tenants", args.connections, reports_spread)

            keys = routing_keys(server, manager, args.routing_keys)
            workload = load.Workload(
                "enqueue",
                f"{server.base_url}/v2/enqueue",
                tuple(alert(key) for key in keys),
                expect=202,
                dedup=True,
            )
            options = {"connections": args.connections, "generator": generator}
            measure_intake(cluster, server, workload, seconds=args.warmup, **options)
            intake = measure_intake(cluster, server, workload, seconds=args.seconds, **options)
            row(
                table, f"POST /v2/enqueue, {len(keys)} routing keys, dedup", args.connections, intake.measured
            )
            print()
            print(numbering(cluster, one))
            print(intake_outcome(cluster))
            print(
                f"applied: {intake.applied:,} alerts in {intake.seconds:.1f} s from the start of the load"
                f" = {fmt(intake.applied_rate)} alerts/s (CPU per alert above: accepting and applying it)"
            )
            print()
            rate = intake.measured.result.rps
            errors = intake.measured.result.errors
            verdicts.append(
                target(
                    errors == 0 and rate >= 1000,
                    f"alert intake >= 1,000 events/s on one process: {fmt(rate)} events/s accepted, {errors} errors",
                )
            )
    return 1 if args.strict and not all(verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
