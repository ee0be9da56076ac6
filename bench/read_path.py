"""Benchmark: incidentdesk's read path against PostGraphile 5 on the same data.

Starts PostgreSQL (the bench's embedded cluster in .incidentdesk/bench unless --database-url,
INCIDENTDESK_BENCH_DATABASE_URL or INCIDENTDESK_DATABASE_URL name one), generates the data once per size
(bench/datagen.py, reused while the size stays the same), then serves it twice: incidentdesk as one
uvicorn process with a real AGENT token, X-Tenant, row-level security and every limit on; PostGraphile
as one Node process connected as the owner, the tenant chosen by a `condition`.

Both answer the same page first and must agree (the differential check), then:

1. throughput: interleaved rounds of the page and of `{ __typename }` (authenticated for incidentdesk)
   with N connections: req/s, p50, p99, server and PostgreSQL CPU per request, errors, the ratio
   incidentdesk/PostGraphile per round and its median; PASS/FAIL against the read-path targets;
2. statements per page: a dedicated run with log_statement=all for the application role, counted in
   the server log;
3. scale: single-client p50 latency of the page on a small and a large dataset (--scale-small,
   --scale-large), target: large within 1.2x of small.

    python bench/read_path.py [--incidents 200000] [--rounds 5] [--seconds 10] [--connections 32]
                              [--scale-small 10000] [--scale-large 10000000] [--skip-scale] [--strict]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import datagen
import httpx
from harness import ROOT, load
from harness.cluster import Cluster, open_cluster
from harness.measure import Measured
from harness.measure import measure as measure_load
from harness.report import Table, environment, fmt, median, print_environment, ratio, target
from harness.servers import Server, incidentdesk, install_postgraphile, node_version, postgraphile
from harness.tokens import mint
from sqlalchemy.engine import make_url

# ---------------------------------------------------------------- the page, as each server spells it

# The 5 newest events. The served schema had only `timeline(first:)` (the OLDEST events) before
# `timeline(last:)` was added; the harness asks for `last: 5` and falls back to `first: 5` when the
# server refuses it (see detect_timeline), saying so in its output.
TIMELINE_LAST = "last: 5"
TIMELINE_FIRST = "first: 5"

OURS_PAGE = (
    "query Page { incidents(first: 50, orderBy: {field: REPORTED_AT, direction: DESC}) {"
    " edges { node { number title status priority service { name }"
    " timeline(%s) { edges { node { kind message at } } } } } } }"
)
OURS_TYPENAME = "{ __typename }"

# PostGraphile's names for our composite-key relations: the forward one from incidents(tenant_id,
# service_id) and the backward one from incident_events(tenant_id, incident_id), each named after the
# foreign key's columns. `last: 5` with SEQ_ASC: the 5 newest, oldest first, as a Relay `last` answers.
THEIR_PAGE = (
    'query Page { allIncidents(condition: {tenantId: "%s"}, orderBy: [REPORTED_AT_DESC], first: 50) {'
    " edges { node { number title status priority serviceByTenantIdAndServiceId { name }"
    " incidentEventsByTenantIdAndIncidentId(%s, orderBy: [SEQ_ASC]) { edges { node { kind message at } } } } } } }"
)
THEIR_TYPENAME = "{ __typename }"


@dataclass
class Target:
    """One server under test with the requests it is sent."""

    name: str
    server: Server
    headers: dict[str, str]
    page: str
    typename: str

    def workload(self, kind: str) -> load.Workload:
        query = self.page if kind == "page" else self.typename
        return load.Workload(
            f"{self.name} {kind}", self.server.graphql_url, (json.dumps({"query": query}),), self.headers
        )

    def ask(self, query: str) -> dict[str, Any]:
        answer = httpx.post(self.server.graphql_url, json={"query": query}, headers=self.headers, timeout=60)
        body: dict[str, Any] = answer.json()
        if answer.status_code != 200 or body.get("errors"):
            raise Mismatch(f"{self.name} answered {answer.status_code}: {json.dumps(body)[:1000]}")
        return body


class Mismatch(Exception):
    """The two servers disagree, or one of them failed: nothing measured would mean anything."""


# ---------------------------------------------------------------- setting up


def detect_timeline(server: Server, headers: dict[str, str]) -> tuple[str, str | None]:
    """`last: 5` when the served schema accepts it; else `first: 5` and the server's reason."""
    answer = httpx.post(
        server.graphql_url, json={"query": OURS_PAGE % TIMELINE_LAST}, headers=headers, timeout=60
    )
    body = answer.json()
    if answer.status_code == 200 and not body.get("errors"):
        return TIMELINE_LAST, None
    reason = (
        "; ".join(error.get("message", "?") for error in body.get("errors") or [])
        or f"HTTP {answer.status_code}"
    )
    return TIMELINE_FIRST, reason


def _check_owner_bypasses_rls(cluster: Cluster, database: str) -> None:
    with cluster.connect(database, autocommit=True) as conn:
        row = conn.execute(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    if not row or not row[0]:
        raise SystemExit(
            "PostGraphile connects as the owner without row-level security: the database URL's user must be"
            " a superuser or have BYPASSRLS (row-level security is forced on the owner too)"
        )


def tenant_id(cluster: Cluster, database: str, slug: str) -> str:
    with cluster.connect(database, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM tenants WHERE slug = %s", (slug,)).fetchone()
    if row is None:
        raise SystemExit(f"no tenant {slug!r} in {database}")
    return str(row[0])


@contextlib.contextmanager
def both_servers(
    cluster: Cluster, database: str, log_dir: Path, timeline: str | None = None
) -> Iterator[tuple[Target, Target, str, str | None]]:
    """incidentdesk and PostGraphile on ``database``; yields them with the timeline argument in use."""
    owner_url, app_url = cluster.owner_url(database), cluster.app_url(database)
    token = mint(app_url, datagen.AGENT)
    tenant = tenant_id(cluster, database, datagen.PAGE_TENANT)
    headers = {"Authorization": f"Bearer {token}", "X-Tenant": datagen.PAGE_TENANT}
    with (
        incidentdesk(owner_url, app_url, log_dir) as ours_server,
        postgraphile(owner_url, log_dir) as their_server,
    ):
        reason = None
        if timeline is None:
            timeline, reason = detect_timeline(ours_server, headers)
        ours = Target("incidentdesk", ours_server, headers, OURS_PAGE % timeline, OURS_TYPENAME)
        theirs = Target(
            "PostGraphile", their_server, {}, THEIR_PAGE % (tenant, TIMELINE_LAST), THEIR_TYPENAME
        )
        yield ours, theirs, timeline, reason


# ---------------------------------------------------------------- the differential check


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _ours_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "number": node["number"],
            "title": node["title"],
            "status": node["status"],
            "priority": node["priority"],
            "service": (node["service"] or {}).get("name"),
            "events": [
                (e["node"]["kind"], e["node"]["message"], _instant(e["node"]["at"]))
                for e in node["timeline"]["edges"]
            ],
        }
        for node in (edge["node"] for edge in body["data"]["incidents"]["edges"])
    ]


def _their_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "number": f"INC-{int(node['number']):06d}",
            "title": node["title"],
            "status": node["status"],
            "priority": node["priority"],
            "service": (node["serviceByTenantIdAndServiceId"] or {}).get("name"),
            "events": [
                (e["node"]["kind"], e["node"]["message"], _instant(e["node"]["at"]))
                for e in node["incidentEventsByTenantIdAndIncidentId"]["edges"]
            ],
        }
        for node in (edge["node"] for edge in body["data"]["allIncidents"]["edges"])
    ]


def _same_events(ours: list[tuple[str, str, datetime]], theirs: list[tuple[str, str, datetime]]) -> bool:
    # Timestamps may be rendered with different precision: equal to the millisecond is equal.
    return len(ours) == len(theirs) and all(
        a[:2] == b[:2] and abs((a[2] - b[2]).total_seconds()) < 0.001
        for a, b in zip(ours, theirs, strict=True)
    )


def differential_check(ours: Target, theirs: Target, tenant: str, timeline: str) -> str:
    """Both servers return the same incidents (and, with `last: 5`, the same events in the same order);
    raises Mismatch otherwise. With `first: 5` the oldest events are compared with PostGraphile's."""
    mine = _ours_rows(ours.ask(ours.page))
    reference_page = theirs.page if timeline == TIMELINE_LAST else THEIR_PAGE % (tenant, TIMELINE_FIRST)
    reference = _their_rows(theirs.ask(reference_page))
    if not reference:
        raise Mismatch("PostGraphile's page is empty: the tenant has no incidents")
    if len(mine) != len(reference):
        raise Mismatch(f"incidentdesk returned {len(mine)} incidents, PostGraphile {len(reference)}")
    for index, (a, b) in enumerate(zip(mine, reference, strict=True)):
        fields = ("number", "title", "status", "priority", "service")
        if any(a[name] != b[name] for name in fields):
            raise Mismatch(
                f"incident #{index + 1} differs:\n  incidentdesk: { {n: a[n] for n in fields} }\n"
                f"  PostGraphile: { {n: b[n] for n in fields} }"
            )
        if not _same_events(a["events"], b["events"]):
            hint = (
                " (the same events in reverse order)" if _same_events(a["events"][::-1], b["events"]) else ""
            )
            raise Mismatch(
                f"{a['number']}: the timeline differs{hint}:\n  incidentdesk: {a['events']}\n  PostGraphile: {b['events']}"
            )
    events = sum(len(row["events"]) for row in mine)
    which = "5 newest" if timeline == TIMELINE_LAST else "5 oldest"
    return f"{len(mine)} incidents and their {events} events ({which} of each) are the same from both servers"


# ---------------------------------------------------------------- throughput rounds


def measure(
    target_: Target, kind: str, cluster: Cluster, args: argparse.Namespace, seconds: float, connections: int
) -> Measured:
    return measure_load(
        target_.server,
        target_.workload(kind),
        postmaster_pid=cluster.postmaster_pid,
        seconds=seconds,
        connections=connections,
        generator=args.generator,
    )


@dataclass
class Rounds:
    kind: str
    ours: list[Measured] = field(default_factory=list)
    theirs: list[Measured] = field(default_factory=list)

    def rps_ratios(self) -> list[float]:
        return [ratio(a.result.rps, b.result.rps) for a, b in zip(self.ours, self.theirs, strict=True)]

    def errors(self) -> tuple[int, int]:
        return sum(m.result.errors for m in self.ours), sum(m.result.errors for m in self.theirs)


ROUND_HEADERS = (
    "workload",
    "round",
    "target",
    "req/s",
    "p50 ms",
    "p99 ms",
    "server CPU ms/req",
    "PostgreSQL CPU ms/req",
    "errors",
)


def _row(kind: str, label: str, name: str, m: Measured) -> list[str]:
    r = m.result
    return [
        kind,
        label,
        name,
        fmt(r.rps),
        fmt(r.p50_ms, 2),
        fmt(r.p99_ms, 2),
        fmt(m.server_per_request, 2),
        fmt(m.postgres_per_request, 2),
        str(r.errors),
    ]


def _ratio_row(kind: str, label: str, a: Measured, b: Measured) -> list[str]:
    cells = [
        ratio(a.result.rps, b.result.rps),
        ratio(a.result.p50_ms, b.result.p50_ms),
        ratio(a.result.p99_ms, b.result.p99_ms),
        _cpu_ratio(a.server_per_request, b.server_per_request),
        _cpu_ratio(a.postgres_per_request, b.postgres_per_request),
    ]
    return [kind, label, "**incidentdesk / PostGraphile**", *(_times(c) for c in cells), ""]


def _times(value: float) -> str:
    text = fmt(value, 2)
    return text if text == "n/a" else f"{text}x"


def _cpu_ratio(ours: float, theirs: float) -> float:
    """A ratio of CPU per request, unless one side is next to nothing (under 0.01 ms, as PostgreSQL's for
    a query that never reaches it), where the ratio would only magnify background noise."""
    return float("nan") if min(ours, theirs) < 0.01 else ratio(ours, theirs)


def run_rounds(
    ours: Target, theirs: Target, kind: str, cluster: Cluster, args: argparse.Namespace, table: Table
) -> Rounds:
    for target_ in (ours, theirs):
        measure(target_, kind, cluster, args, args.warmup, args.connections)
    rounds = Rounds(kind)
    for number in range(1, args.rounds + 1):
        # Alternate who goes first, so neither always runs on a warmer (or more tired) machine.
        order = (ours, theirs) if number % 2 else (theirs, ours)
        found = {}
        for target_ in order:
            found[target_.name] = measure(target_, kind, cluster, args, args.seconds, args.connections)
            table.row(_row(kind, str(number), target_.name, found[target_.name]))
            for sample in found[target_.name].result.samples[:2]:
                print(f"<!-- {target_.name} error: {sample[:300]} -->", flush=True)
        rounds.ours.append(found[ours.name])
        rounds.theirs.append(found[theirs.name])
        table.row(_ratio_row(kind, str(number), found[ours.name], found[theirs.name]))
    _median_rows(rounds, table)
    return rounds


def _median_rows(rounds: Rounds, table: Table) -> None:
    for name, series in (("incidentdesk", rounds.ours), ("PostGraphile", rounds.theirs)):
        table.row(
            [
                rounds.kind,
                "median",
                name,
                fmt(median(m.result.rps for m in series)),
                fmt(median(m.result.p50_ms for m in series), 2),
                fmt(median(m.result.p99_ms for m in series), 2),
                fmt(median(m.server_per_request for m in series), 2),
                fmt(median(m.postgres_per_request for m in series), 2),
                str(sum(m.result.errors for m in series)),
            ]
        )
    pairs = list(zip(rounds.ours, rounds.theirs, strict=True))
    cells = [
        median(ratio(a.result.rps, b.result.rps) for a, b in pairs),
        median(ratio(a.result.p50_ms, b.result.p50_ms) for a, b in pairs),
        median(ratio(a.result.p99_ms, b.result.p99_ms) for a, b in pairs),
        median(_cpu_ratio(a.server_per_request, b.server_per_request) for a, b in pairs),
        median(_cpu_ratio(a.postgres_per_request, b.postgres_per_request) for a, b in pairs),
    ]
    table.row([rounds.kind, "median", "**incidentdesk / PostGraphile**", *(_times(c) for c in cells), ""])


def throughput_targets(page: Rounds, typename: Rounds) -> list[bool]:
    verdicts = []
    for rounds in (page, typename):
        ours_errors, their_errors = rounds.errors()
        if ours_errors or their_errors:
            print(
                f"NOTE  {rounds.kind}: errors during measurement (incidentdesk {ours_errors}, PostGraphile {their_errors}): the rounds do not count"
            )
    clean_page = page.errors() == (0, 0)
    clean_typename = typename.errors() == (0, 0)
    page_ratio = median(page.rps_ratios())
    verdicts.append(
        target(
            clean_page and page_ratio >= 2.0,
            f"page throughput >= 2.0x PostGraphile's: median ratio {fmt(page_ratio, 3)}x",
        )
    )
    ours_p99 = median(m.result.p99_ms for m in page.ours)
    their_p99 = median(m.result.p99_ms for m in page.theirs)
    verdicts.append(
        target(
            clean_page and ours_p99 <= their_p99,
            f"page p99 <= PostGraphile's: {fmt(ours_p99, 1)} ms vs {fmt(their_p99, 1)} ms (medians over rounds)",
        )
    )
    typename_ratio = median(typename.rps_ratios())
    verdicts.append(
        target(
            clean_typename and typename_ratio >= 1.0,
            f"authenticated {{ __typename }} req/s >= PostGraphile's: median ratio {fmt(typename_ratio, 3)}x",
        )
    )
    return verdicts


# ---------------------------------------------------------------- statements per page

_LOG_LINE = re.compile(
    r"^\S+ \S+ \S+ \[(?P<pid>\d+)\] (?P<role>[^@\s]+)@(?P<db>\S+) LOG:  (?:statement|execute [^:]*): (?P<sql>.*)$"
)
_TRANSACTION = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|START TRANSACTION|END)\b", re.IGNORECASE)


@dataclass
class Counted:
    requests: int
    statements: int
    transactions: int
    # Transactions with no statement in them: the connection pool's pre-ping (BEGIN; ROLLBACK).
    empty_transactions: int
    scope_settings: int
    lines: list[str]

    def per_request(self, value: int) -> float:
        return value / self.requests


def _count(log_file: Path, offset: int, role: str, database: str, requests: int) -> Counted:
    with open(log_file, errors="replace") as handle:
        handle.seek(offset)
        text = handle.read()
    statements = transactions = empty = scopes = 0
    # Per backend: inside a transaction that has run no statement yet.
    pending: dict[str, bool] = {}
    lines = []
    for line in text.splitlines():
        found = _LOG_LINE.match(line)
        if not found or found["role"] != role or found["db"] != database:
            continue
        sql = found["sql"].strip()
        lines.append(sql)
        if _TRANSACTION.match(sql):
            if sql.upper().startswith(("BEGIN", "START")):
                transactions += 1
                pending[found["pid"]] = True
            else:
                empty += pending.pop(found["pid"], False)
        else:
            statements += 1
            scopes += "set_config('app.tenant_ids'" in sql
            pending[found["pid"]] = False
    return Counted(requests, statements, transactions, empty, scopes, lines)


def _sequential(target_: Target, query: str, count: int) -> None:
    for _ in range(count):
        target_.ask(query)


def statements_per_request(
    cluster: Cluster, database: str, log_dir: Path, timeline: str, requests: int = 5
) -> None:
    """log_statement=all for the application role (and the owner, for PostGraphile) in this database,
    servers started afresh so their connections pick it up, N sequential requests, lines counted."""
    if cluster.log_file is None:
        print("statements per page: n/a (needs the embedded cluster, whose log the harness can read)\n")
        return
    owner_role = str(make_url(cluster.owner_url(database)).username)
    roles = ("incidentdesk_app", owner_role)
    with cluster.connect(database, autocommit=True) as conn:
        for role in roles:
            conn.execute(f'ALTER ROLE "{role}" IN DATABASE "{database}" SET log_statement = \'all\'')
    table = Table(
        (
            "server",
            "request",
            "statements / request",
            "of which set_config scope",
            "transactions / request",
            "of which empty (pool pre-ping)",
        )
    )
    try:
        with both_servers(cluster, database, log_dir, timeline) as (ours, theirs, _timeline, _reason):
            saved = []
            for target_, role, kind, query in (
                (ours, "incidentdesk_app", "page", ours.page),
                (ours, "incidentdesk_app", "{ __typename } (authenticated)", ours.typename),
                (theirs, owner_role, "page", theirs.page),
            ):
                _sequential(target_, query, 3)  # first requests: connections, caches, prepared statements
                time.sleep(0.3)
                offset = cluster.log_file.stat().st_size
                _sequential(target_, query, requests)
                time.sleep(0.5)
                counted = _count(cluster.log_file, offset, role, database, requests)
                table.row(
                    [
                        target_.name,
                        kind,
                        fmt(counted.per_request(counted.statements)),
                        fmt(counted.per_request(counted.scope_settings)),
                        fmt(counted.per_request(counted.transactions)),
                        fmt(counted.per_request(counted.empty_transactions)),
                    ]
                )
                name = f"statements-{target_.name.lower()}-{'page' if kind == 'page' else 'typename'}.log"
                (log_dir / name).write_text("\n".join(counted.lines) + "\n")
                saved.append(name)
    finally:
        with cluster.connect(database, autocommit=True) as conn:
            for role in roles:
                conn.execute(f'ALTER ROLE "{role}" IN DATABASE "{database}" RESET log_statement')
    print(
        f"\nCounted from the PostgreSQL log (log_statement=all), {requests} sequential requests after 3 warm-up ones;"
    )
    print(
        f"BEGIN/COMMIT are counted as transactions, not statements. The statements: {log_dir}/{{{','.join(saved)}}}\n"
    )


# ---------------------------------------------------------------- scale


def single_client_p50(target_: Target, cluster: Cluster, args: argparse.Namespace) -> Measured:
    measure(target_, "page", cluster, args, min(3.0, args.scale_seconds), 1)
    return measure(target_, "page", cluster, args, args.scale_seconds, 1)


def scale(cluster: Cluster, base: datagen.Size, args: argparse.Namespace, timeline: str) -> bool:
    found: dict[int, tuple[Measured, Measured]] = {}
    sizes = (args.scale_small, args.scale_large)
    for incidents in sizes:
        size = replace(base, incidents=incidents)
        datagen.ensure(cluster, size)
    print(
        f"sizes compared: {sizes[0]:,} vs {sizes[1]:,} incidents ({base.tenants} tenants, {base.events} events each)\n"
    )
    table = Table(
        (
            "incidents",
            "target",
            "p50 ms",
            "p99 ms",
            "req/s (1 client)",
            "server CPU ms/req",
            "PostgreSQL CPU ms/req",
            "errors",
        )
    )
    for incidents in sizes:
        size = replace(base, incidents=incidents)
        with both_servers(cluster, size.database, args.log_dir, timeline) as (ours, theirs, _t, _r):
            found[incidents] = (
                single_client_p50(ours, cluster, args),
                single_client_p50(theirs, cluster, args),
            )
        for name, m in zip(("incidentdesk", "PostGraphile"), found[incidents], strict=True):
            r = m.result
            table.row(
                [
                    f"{incidents:,}",
                    name,
                    fmt(r.p50_ms, 2),
                    fmt(r.p99_ms, 2),
                    fmt(r.rps),
                    fmt(m.server_per_request, 2),
                    fmt(m.postgres_per_request, 2),
                    str(r.errors),
                ]
            )
    small, large = (found[n][0].result for n in sizes)
    their_small, their_large = (found[n][1].result for n in sizes)
    print()
    print(
        f"PostGraphile for reference: {fmt(their_large.p50_ms, 2)} ms at {sizes[1]:,} vs {fmt(their_small.p50_ms, 2)} ms at {sizes[0]:,} ({fmt(ratio(their_large.p50_ms, their_small.p50_ms), 2)}x)"
    )
    clean = small.errors == 0 and large.errors == 0
    return target(
        clean and large.p50_ms <= 1.2 * small.p50_ms,
        f"page p50 at {sizes[1]:,} incidents within 1.2x of that at {sizes[0]:,}: {fmt(large.p50_ms, 2)} ms vs {fmt(small.p50_ms, 2)} ms ({fmt(ratio(large.p50_ms, small.p50_ms), 2)}x)",
    )


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    datagen.size_arguments(parser)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0, help="per round and target")
    parser.add_argument("--warmup", type=float, default=5.0, help="per target, before the first round")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--load-generator", choices=("auto", "wrk", "python"), default="auto", dest="generator"
    )
    parser.add_argument(
        "--scale-small", type=int, default=10_000, help="incidents of the small scale dataset"
    )
    parser.add_argument(
        "--scale-large",
        type=int,
        default=10_000_000,
        help="incidents of the large one (10M takes a while to generate)",
    )
    parser.add_argument("--scale-seconds", type=float, default=10.0)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-statements", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument(
        "--database-url", help="a cluster to use (owner or superuser URL) instead of the embedded one"
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".incidentdesk" / "bench")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    args.generator = load.available_generator(args.generator)
    args.log_dir = args.data_dir / "logs"
    size = datagen.Size(args.tenants, args.services, args.incidents, args.events)
    postgraphile_version = install_postgraphile()
    verdicts: list[bool] = []
    with open_cluster(args.database_url, args.data_dir) as cluster:
        datagen.ensure(cluster, size)
        _check_owner_bypasses_rls(cluster, size.database)
        print("## incidentdesk read path vs PostGraphile\n")
        generator = (
            load.wrk_version()
            if args.generator == "wrk"
            else "Python asyncio (bench/harness/loadgen.py), own process"
        )
        print_environment(
            environment(
                [
                    (
                        "PostgreSQL",
                        f"{cluster.server_version()} ({'embedded pgserver' if cluster.embedded else 'external cluster'})",
                    ),
                    ("Node", node_version()),
                    ("PostGraphile", f"{postgraphile_version} (amber preset, one Node process)"),
                    ("incidentdesk", "incidentdesk serve --workers 1 (one uvicorn process)"),
                    ("load generator", generator),
                    ("data", f"{size.describe()}; page of tenant {datagen.PAGE_TENANT}"),
                ]
            )
        )
        with both_servers(cluster, size.database, args.log_dir) as (ours, theirs, timeline, reason):
            if reason:
                print(
                    f"NOTE  incidentdesk refuses `timeline({TIMELINE_LAST})` ({reason}): its page asks `timeline({TIMELINE_FIRST})`,"
                    " the 5 OLDEST events, while PostGraphile's asks the 5 newest. The comparison is not like-for-like for events.\n"
                )
            else:
                print(
                    f"incidentdesk accepts `timeline({TIMELINE_LAST})`: both pages ask the 5 newest events.\n"
                )
            print("incidentdesk:", ours.page)
            print("PostGraphile:", theirs.page, "\n")
            try:
                print(
                    "differential check:",
                    differential_check(
                        ours, theirs, tenant_id(cluster, size.database, datagen.PAGE_TENANT), timeline
                    ),
                    "\n",
                )
            except Mismatch as error:
                print(f"DIFFERENTIAL CHECK FAILED: {error}", file=sys.stderr)
                return 2
            if not args.skip_throughput:
                print(
                    f"### Throughput: {args.rounds} rounds x {args.seconds:g} s per target, {args.connections} connections, after {args.warmup:g} s warm-up\n"
                )
                table = Table(ROUND_HEADERS)
                page = run_rounds(ours, theirs, "page", cluster, args, table)
                typename = run_rounds(ours, theirs, "typename", cluster, args, table)
                print()
                verdicts += throughput_targets(page, typename)
                print()
        if not args.skip_statements:
            print("### Statements per request\n")
            statements_per_request(cluster, size.database, args.log_dir, timeline)
        if not args.skip_scale:
            print("### Scale: single-client page latency\n")
            verdicts.append(scale(cluster, size, args, timeline))
            print()
    failed = verdicts.count(False)
    print(f"{len(verdicts) - failed} of {len(verdicts)} targets met")
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
