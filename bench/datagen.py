"""Benchmark data: tenants, services, incidents and their timelines at any size, generated inside PostgreSQL.

Tenants and memberships go through the domain's own use cases (so a real token works afterwards);
services, incidents, timeline events and the SLA clock ledger are written set-based (``INSERT ... SELECT
generate_series``) through the owner connection, one tenant and one batch of incident numbers per
transaction, with every key, constraint and row-level-security policy in place. What the app would have
written is written: numbers per tenant from 1 with the tenant's counter left at the last one (a later
``reportIncident`` goes on from there), statuses reached through the status machine with one timeline
event per step and ``version`` counting them, priorities from the impact x urgency matrix, the clock
ledger (START, RESPOND, HOLD, RESOLVE, CLOSE, CANCEL) matching the timeline.

Every value is a hash of (tenant, number, salt), so the same size gives the same data (but for the ids
of incidents and events, and times, which count back from the moment of generation). Times: reports
spread over the last year in number order; an incident's k-th event follows its report by about k^2
hours; the per-tenant event ``seq`` (commit order in the app) orders events by time across the tenant,
without a sort: each (incident, k) owns one slot of a per-tenant grid whose order is the time order.

    python bench/datagen.py [--tenants 50] [--services 1000] [--incidents 200000] [--events-per-incident 5]
                            [--database-url OWNER_URL] [--data-dir DIR]

Without ``--database-url`` the data goes to a database named after the size in the bench's embedded
cluster (``.incidentdesk/bench``), which ``bench/read_path.py`` reuses while the size stays the same.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from harness import ISSUER, ROOT
from harness.cluster import Cluster, libpq_url, open_cluster

log = logging.getLogger("bench")

# Part of every dataset's label: a change to what is generated makes cached databases stale.
GENERATOR_VERSION = 1
BATCH = 50_000
MAX_EVENTS = 16
SPAN = timedelta(days=365)

AGENT = "bench-agent"
MANAGER = "bench-manager"
CUSTOMER = "bench-customer"
TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")


def tenant_slug(index: int) -> str:
    return f"bench-{index:03d}"


# The tenant whose page is read: the first one, as big as any.
PAGE_TENANT = tenant_slug(0)


@dataclass(frozen=True)
class Size:
    tenants: int = 50
    services: int = 1000
    incidents: int = 200_000
    events: int = 5

    def __post_init__(self) -> None:
        if self.tenants < 1 or self.incidents < self.tenants or self.services < 0:
            raise ValueError("need at least one tenant and one incident per tenant")
        if not 1 <= self.events <= MAX_EVENTS:
            raise ValueError(f"events per incident must be 1 to {MAX_EVENTS}")

    @property
    def database(self) -> str:
        return f"bench_t{self.tenants}_s{self.services}_i{self.incidents}_e{self.events}"

    def label(self) -> dict[str, Any]:
        return {"generator": GENERATOR_VERSION, **asdict(self)}

    def describe(self) -> str:
        return (
            f"{self.incidents:,} incidents x {self.events} events, {self.tenants} tenants, "
            f"{self.services:,} services"
        )

    def share(self, total: int, index: int) -> int:
        """Tenant ``index``'s part of ``total``, spread evenly (the first tenants take the remainder)."""
        return total // self.tenants + (1 if index < total % self.tenants else 0)


# ---------------------------------------------------------------- SQL


def _h(salt: str, n: str = "n") -> str:
    """A uniform fraction in [0, 1) from (tenant, incident number, salt). Salts: 0-15 an event's time
    (by k), 16-47 the incident's attributes, 64-79 / 80-95 / 96-111 a comment's visibility, text and
    author (by k)."""
    return f"((hashint8(%(tk)s + {n} * 128 + ({salt}))::bigint + 2147483648)::float8 / 4294967296.0)"


def _pick(options: tuple[str, ...], salt: str, n: str = "n") -> str:
    quoted = ", ".join("'" + option.replace("'", "''") + "'" for option in options)
    return f"(ARRAY[{quoted}])[1 + floor({_h(salt, n)} * {len(options)})::int]"


def _at(k: str, n: str = "n") -> str:
    """When incident ``n``'s ``k``-th event happened: its slot of the tenant's grid plus a jitter that
    keeps it inside the slot, so time order and slot (``seq``) order agree."""
    return (
        f"(%(t0)s::timestamptz + ((((({n}) - 1) + (%(lags)s::int[])[({k}) + 1]) * %(e)s + ({k})"
        f" + 0.9 * {_h(k, n)}) * %(dt)s) * interval '1 second')"
    )


def _seq(k: str, n: str) -> str:
    return f"(((({n}) - 1) + (%(lags)s::int[])[({k}) + 1]) * %(e)s + ({k}) + 1)"


COMPONENTS = (
    "Checkout",
    "Login page",
    "Payment gateway",
    "Search",
    "Mail delivery",
    "VPN",
    "Invoice export",
    "Mobile app",
    "Reporting",
    "File upload",
    "Public API",
    "Dashboard",
    "Backup job",
    "DNS",
    "Single sign-on",
    "Order sync",
)
SERVICE_KINDS = ("service", "API", "database", "queue", "cluster", "gateway", "portal", "batch")
SYMPTOMS = (
    "is down",
    "responds slowly",
    "returns errors",
    "times out",
    "is unreachable",
    "shows stale data",
    "rejects logins",
    "drops connections",
    "fails intermittently",
    "is degraded",
)
CIRCUMSTANCES = (
    "",
    " for some customers",
    " since the last deploy",
    " in region EU",
    " for all users",
    " after maintenance",
    " on mobile",
)
CATEGORIES = ("Network", "Application", "Access", "Hardware", "Email", "Performance", "Security")
GROUPS = ("Service desk", "Network operations", "Application support", "Platform team")
STAFF_PUBLIC = (
    "We are investigating the issue.",
    "A fix is being deployed.",
    "We identified the cause and are working on it.",
    "Service is partially restored; we keep monitoring.",
    "Next update within the hour.",
)
STAFF_INTERNAL = (
    "Checked the logs: errors started with the last deploy.",
    "Paged the on-call engineer.",
    "Restarted the affected nodes.",
    "Correlated with the monitoring alert.",
    "Waiting for the database team.",
)
CUSTOMER_NOTES = (
    "Any update on this?",
    "Still happening on our side.",
    "Some of our users are affected too.",
    "Thanks, it looks better now.",
)
RESOLUTION_NOTES = (
    "Rolled back the faulty release.",
    "Replaced the failed disk.",
    "Renewed the expired certificate.",
    "Scaled out the cluster.",
    "Vendor deployed a fix.",
)
CANCEL_REASONS = ("Duplicate of another report", "Raised in error", "Planned maintenance, not an incident")

_SERVICES = f"""
INSERT INTO services (tenant_id, id, slug, name, description, created_at)
SELECT %(tid)s, md5('bench-svc:' || %(tid)s || ':' || i)::uuid, 'service-' || i,
       (ARRAY[{", ".join(f"'{c}'" for c in COMPONENTS)}])[1 + mod(i, 16)]
         || ' ' || (ARRAY[{", ".join(f"'{k}'" for k in SERVICE_KINDS)}])[1 + mod(i / 16, 8)]
         || CASE WHEN i >= 128 THEN ' ' || (i / 128 + 1) ELSE '' END,
       'Generated for the benchmark', %(t0)s::timestamptz - interval '30 days'
FROM generate_series(0, %(st)s - 1) AS i
"""


def _status() -> str:
    """Status by age (open ones are recent; resolved ones older than the auto-close delay are closed),
    then lowered when the incident has too few events to have got there (one event per step)."""
    r = _h("16")
    age = "((%(nt)s - n)::float8 * 365.0 / %(nt)s)"
    by_age = f"""
    CASE
      WHEN {age} < 1 THEN CASE WHEN {r} < 0.35 THEN 'NEW' WHEN {r} < 0.80 THEN 'IN_PROGRESS'
                             WHEN {r} < 0.90 THEN 'ON_HOLD' ELSE 'RESOLVED' END
      WHEN {age} < 3 THEN CASE WHEN {r} < 0.05 THEN 'NEW' WHEN {r} < 0.40 THEN 'IN_PROGRESS'
                             WHEN {r} < 0.55 THEN 'ON_HOLD' WHEN {r} < 0.95 THEN 'RESOLVED' ELSE 'CANCELLED' END
      WHEN {age} < 14 THEN CASE WHEN {r} < 0.05 THEN 'IN_PROGRESS' WHEN {r} < 0.10 THEN 'ON_HOLD'
                              WHEN {r} < 0.95 THEN 'CLOSED' ELSE 'CANCELLED' END
      ELSE CASE WHEN {r} < 0.01 THEN 'ON_HOLD' WHEN {r} < 0.95 THEN 'CLOSED' ELSE 'CANCELLED' END
    END"""
    steps = f"CASE {by_age} WHEN 'NEW' THEN 1 WHEN 'IN_PROGRESS' THEN 2 WHEN 'CLOSED' THEN 4 ELSE 3 END"
    fallback = "CASE WHEN %(e)s >= 2 THEN 'IN_PROGRESS' ELSE 'NEW' END"
    return f"CASE WHEN {steps} > %(e)s THEN {fallback} ELSE {by_age} END"


def _agent(salt: str, n: str = "n") -> str:
    return f"'agent-' || lpad(floor({_h(salt, n)} * 12)::text, 2, '0')"


_INCIDENTS = f"""
INSERT INTO incidents (
  tenant_id, id, number, title, description, status, source, category, impact, urgency, priority,
  priority_overridden, major, service_id, reported_by, reported_by_issuer, assignee, assignment_group,
  on_hold_reason, resolution_code, resolution_notes, resolved_by, cancel_reason, sla_breached, version,
  detected_at, reported_at, responded_at, resolved_at, closed_at, updated_at, escalated_to_managers,
  affected_tenant_ids, alert_dedup_key, alert_count)
SELECT
  %(tid)s, gen_random_uuid(), n, title,
  'Reported by ' || reporter || ' (' || lower(source) || '). ' || title || '.',
  status, source, category, impact, urgency,
  CASE impact || '/' || urgency
    WHEN 'HIGH/HIGH' THEN 'P1' WHEN 'HIGH/MEDIUM' THEN 'P2' WHEN 'MEDIUM/HIGH' THEN 'P2'
    WHEN 'HIGH/LOW' THEN 'P3' WHEN 'MEDIUM/MEDIUM' THEN 'P3' WHEN 'LOW/HIGH' THEN 'P3'
    WHEN 'MEDIUM/LOW' THEN 'P4' WHEN 'LOW/MEDIUM' THEN 'P4' ELSE 'P5' END,
  false, false, service_id, reporter, %(issuer)s,
  CASE WHEN assigned THEN agent END,
  CASE WHEN assigned THEN {_pick(GROUPS, "28")} END,
  CASE WHEN status = 'ON_HOLD' THEN {_pick(("AWAITING_CUSTOMER", "AWAITING_VENDOR", "AWAITING_CHANGE"), "23")} END,
  CASE WHEN status IN ('RESOLVED', 'CLOSED') THEN
    CASE WHEN {_h("24")} < 0.60 THEN 'FIXED' WHEN {_h("24")} < 0.75 THEN 'WORKAROUND_APPLIED'
         WHEN {_h("24")} < 0.85 THEN 'NO_FAULT_FOUND' WHEN {_h("24")} < 0.90 THEN 'DUPLICATE'
         WHEN {_h("24")} < 0.95 THEN 'USER_ERROR' ELSE 'VENDOR_FIX' END END,
  CASE WHEN status IN ('RESOLVED', 'CLOSED') THEN {_pick(RESOLUTION_NOTES, "25")} END,
  CASE WHEN status IN ('RESOLVED', 'CLOSED') THEN agent END,
  CASE WHEN status = 'CANCELLED' THEN {_pick(CANCEL_REASONS, "26")} END,
  false, %(e)s,
  CASE WHEN source = 'MONITORING' THEN {_at("0")} - {_h("29")} * interval '10 minutes' END,
  {_at("0")},
  CASE WHEN status <> 'NEW' THEN {_at("1")} END,
  CASE WHEN status = 'RESOLVED' THEN {_at("%(e)s - 1")}
       WHEN status = 'CLOSED' THEN {_at("%(e)s - 2")} END,
  CASE WHEN status = 'CLOSED' THEN {_at("%(e)s - 1")} END,
  {_at("%(e)s - 1")},
  false, '{{}}',
  CASE WHEN source = 'MONITORING' THEN 'gen-' || n END,
  CASE WHEN source = 'MONITORING' THEN 1 ELSE 0 END
FROM (
  SELECT *, status <> 'NEW' AND {_h("36")} < 0.6 AS assigned,
         CASE source WHEN 'USER_REPORT' THEN 'user' || lpad(floor({_h("22")} * 40)::text, 2, '0') || '@' || %(slug)s
                     WHEN 'SERVICE_DESK' THEN {_agent("21")}
                     WHEN 'MONITORING' THEN 'alertmanager' ELSE 'partner-sync' END AS reporter
  FROM (
    SELECT *, {_status()} AS status
    FROM (
      SELECT n,
             CASE WHEN {_h("20")} < 0.40 THEN 'USER_REPORT' WHEN {_h("20")} < 0.70 THEN 'SERVICE_DESK'
                  WHEN {_h("20")} < 0.95 THEN 'MONITORING' ELSE 'PARTNER_API' END AS source,
             CASE WHEN {_h("17")} < 0.15 THEN 'HIGH' WHEN {_h("17")} < 0.55 THEN 'MEDIUM' ELSE 'LOW' END AS impact,
             CASE WHEN {_h("18")} < 0.20 THEN 'HIGH' WHEN {_h("18")} < 0.60 THEN 'MEDIUM' ELSE 'LOW' END AS urgency,
             CASE WHEN {_h("30")} < 0.85 THEN {_pick(CATEGORIES, "31")} END AS category,
             CASE WHEN %(st)s > 0 AND {_h("19")} < 0.9
                  THEN md5('bench-svc:' || %(tid)s || ':' || floor({_h("32")} * %(st)s)::int)::uuid END
               AS service_id,
             {_pick(COMPONENTS, "33")} || ' ' || {_pick(SYMPTOMS, "34")} || {_pick(CIRCUMSTANCES, "35")} AS title,
             {_agent("27")} AS agent
      FROM generate_series(%(a)s, %(b)s) AS n
    ) base
  ) classified
) assigned
"""

_KIND = """
CASE
  WHEN k = 0 THEN 'CREATED'
  WHEN status <> 'NEW' AND k = 1 THEN CASE WHEN assignee IS NOT NULL THEN 'ASSIGNED' ELSE 'ACKNOWLEDGED' END
  WHEN status = 'CLOSED' AND k = %(e)s - 2 THEN 'RESOLVED'
  WHEN status = 'CLOSED' AND k = %(e)s - 1 THEN 'CLOSED'
  WHEN status = 'RESOLVED' AND k = %(e)s - 1 THEN 'RESOLVED'
  WHEN status = 'ON_HOLD' AND k = %(e)s - 1 THEN 'PUT_ON_HOLD'
  WHEN status = 'CANCELLED' AND k = %(e)s - 1 THEN 'CANCELLED'
  ELSE 'COMMENTED'
END
"""

_EVENTS = f"""
INSERT INTO incident_events (tenant_id, id, incident_id, seq, kind, visibility, actor, message, data, at)
SELECT tenant_id, gen_random_uuid(), id, seq, kind,
       CASE WHEN kind = 'COMMENTED' AND NOT public THEN 'INTERNAL' ELSE 'PUBLIC' END,
       CASE kind
         WHEN 'CREATED' THEN reported_by
         WHEN 'CLOSED' THEN CASE WHEN source = 'USER_REPORT' THEN reported_by END
         WHEN 'COMMENTED' THEN CASE WHEN public AND (status = 'NEW' OR from_reporter) THEN reported_by ELSE agent END
         ELSE agent END,
       CASE kind
         WHEN 'CREATED' THEN title
         WHEN 'COMMENTED' THEN
           CASE WHEN NOT public THEN {_pick(STAFF_INTERNAL, "80 + k", "number")}
                WHEN status = 'NEW' OR from_reporter THEN {_pick(CUSTOMER_NOTES, "80 + k", "number")}
                ELSE {_pick(STAFF_PUBLIC, "80 + k", "number")} END
         WHEN 'PUT_ON_HOLD' THEN CASE on_hold_reason WHEN 'AWAITING_CUSTOMER' THEN 'Waiting for your answer'
                                   WHEN 'AWAITING_VENDOR' THEN 'Waiting for the vendor' ELSE 'Waiting for a change window' END
         WHEN 'RESOLVED' THEN resolution_notes
         WHEN 'CANCELLED' THEN cancel_reason
       END,
       CASE kind
         WHEN 'CREATED' THEN jsonb_build_object('source', source, 'priority', priority)
         WHEN 'ASSIGNED' THEN jsonb_build_object(
           'before', jsonb_build_object('assignee', NULL, 'assignmentGroup', NULL),
           'assignee', assignee, 'assignmentGroup', assignment_group)
         WHEN 'PUT_ON_HOLD' THEN jsonb_build_object('reason', on_hold_reason)
         WHEN 'RESOLVED' THEN jsonb_build_object('code', resolution_code, 'cascadeToChildren', false)
         ELSE '{{}}'::jsonb
       END,
       {_at("k", "number")}
FROM (
  SELECT i.*, k, {_KIND} AS kind, {_seq("k", "number")} AS seq,
         {_h("64 + k", "number")} >= 0.45 AND (status <> 'NEW' OR source = 'USER_REPORT') AS public,
         {_h("96 + k", "number")} < 0.3 AND source = 'USER_REPORT' AS from_reporter,
         coalesce(assignee, {_agent("27", "number")}) AS agent
  FROM incidents i CROSS JOIN generate_series(0, %(e)s - 1) AS k
  WHERE i.tenant_id = %(tid)s AND i.number BETWEEN %(a)s AND %(b)s
) e
ORDER BY seq
"""

_LEDGER = """
INSERT INTO incident_clock_history (tenant_id, incident_id, at, kind, priority, hold_reason)
SELECT tenant_id, id, at, kind, priority, hold_reason FROM (
  SELECT tenant_id, id, reported_at AS at, 'START' AS kind, priority, NULL::varchar AS hold_reason, 0 AS step
  FROM batch
  UNION ALL SELECT tenant_id, id, responded_at, 'RESPOND', NULL, NULL, 1 FROM batch WHERE responded_at IS NOT NULL
  UNION ALL SELECT tenant_id, id, updated_at, 'HOLD', NULL, on_hold_reason, 2 FROM batch WHERE status = 'ON_HOLD'
  UNION ALL SELECT tenant_id, id, resolved_at, 'RESOLVE', NULL, NULL, 2 FROM batch WHERE resolved_at IS NOT NULL
  UNION ALL SELECT tenant_id, id, closed_at, 'CLOSE', NULL, NULL, 3 FROM batch WHERE status = 'CLOSED'
  UNION ALL SELECT tenant_id, id, updated_at, 'CANCEL', NULL, NULL, 2 FROM batch WHERE status = 'CANCELLED'
) entries
ORDER BY id, step
"""
_LEDGER_BATCH = (
    "WITH batch AS MATERIALIZED (SELECT tenant_id, id, priority, status, on_hold_reason, reported_at,"
    " responded_at, resolved_at, closed_at, updated_at FROM incidents"
    " WHERE tenant_id = %(tid)s AND number BETWEEN %(a)s AND %(b)s) "
)

_COUNTERS = """
UPDATE tenant_counters SET last_incident_number = %(nt)s,
       last_event_seq = coalesce((SELECT max(seq) FROM incident_events WHERE tenant_id = %(tid)s), 0)
WHERE tenant_id = %(tid)s
"""


_TYPES = {"tk": "bigint", "nt": "int", "st": "int", "e": "int", "a": "int", "b": "int", "tid": "uuid"}


def _typed(sql: str) -> str:
    """Cast the integer parameters: psycopg sends small Python ints as smallint, which leaves
    ``generate_series`` ambiguous and would let the hashes differ between statements."""
    for name, type_ in _TYPES.items():
        sql = sql.replace(f"%({name})s", f"%({name})s::{type_}")
    return sql


_SERVICES, _INCIDENTS, _EVENTS, _LEDGER_BATCH, _COUNTERS = (
    _typed(sql) for sql in (_SERVICES, _INCIDENTS, _EVENTS, _LEDGER_BATCH, _COUNTERS)
)


# ---------------------------------------------------------------- tenants and people (domain code)


async def _tenants_and_people(app_url: str, size: Size) -> list[uuid.UUID]:
    """Tenants and memberships through the domain's use cases, as `incidentdesk tenant create` and
    `incidentdesk member add` make them: an AGENT and a MANAGER of every tenant, a CUSTOMER of one."""
    from domain.db import create_database
    from domain.tenancy import service as tenancy
    from domain.tenancy.roles import Role

    db = create_database(app_url, pool_size=2)
    try:
        ids = []
        for index in range(size.tenants):
            tenant = await tenancy.create_tenant(
                db,
                None,
                slug=tenant_slug(index),
                name=f"Bench customer {index:03d}",
                timezone=TIMEZONES[index % len(TIMEZONES)],
            )
            ids.append(tenant.id)
            await tenancy.add_member(
                db, None, tenant_id=tenant.id, issuer=ISSUER, subject=AGENT, role=Role.AGENT
            )
            await tenancy.add_member(
                db, None, tenant_id=tenant.id, issuer=ISSUER, subject=MANAGER, role=Role.MANAGER
            )
        await tenancy.add_member(
            db, None, tenant_id=ids[0], issuer=ISSUER, subject=CUSTOMER, role=Role.CUSTOMER
        )
        return ids
    finally:
        await db.dispose()


# ---------------------------------------------------------------- the generator


def _lags(events: int, per_tenant: int) -> list[int]:
    """How many of the tenant's later reports come before an incident's k-th event: ~k^2 hours' worth.
    Non-decreasing in k, which keeps an incident's events in order on the slot grid."""
    per_hour = per_tenant / (SPAN.total_seconds() / 3600)
    return [int(per_hour * k * k) for k in range(events)]


def generate(owner_url: str, app_url: str, size: Size, *, jobs: int = 2, progress: bool = True) -> None:
    """Fill an empty, migrated database with ``size``'s data, ``jobs`` tenants at a time, then VACUUM and
    ANALYZE it."""
    started = time.monotonic()
    tenant_ids = asyncio.run(_tenants_and_people(app_url, size))
    now = datetime.now(UTC).replace(microsecond=0)
    meter = _Progress(size.incidents, started if progress else None)
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        secondary = _drop_secondary_indexes(conn)
    try:
        tenants = list(enumerate(tenant_ids))
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for finished in pool.map(
                lambda share: _load(owner_url, size, share, now - SPAN, meter),
                [tenants[j::jobs] for j in range(jobs)],
            ):
                del finished
    finally:
        meter.close()
        with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
            for definition in secondary:
                conn.execute(definition)
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        # VACUUM too: hint bits and the visibility map are set now, not by the first benchmark round.
        conn.execute("VACUUM (ANALYZE)")
    log.info("generated %s in %.0f s", size.describe(), time.monotonic() - started)


# Tables whose non-unique indexes are built once after loading rather than row by row. Primary keys,
# unique constraints and foreign keys stay in place throughout.
_BULK_TABLES = ("incidents", "incident_events", "incident_clock_history")


def _drop_secondary_indexes(conn: psycopg.Connection[Any]) -> list[str]:
    """Drop the bulk tables' plain indexes; returns their exact definitions to create them again."""
    rows = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indrelid"
        " WHERE c.relname = ANY(%s) AND NOT i.indisunique AND NOT i.indisprimary"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
        (list(_BULK_TABLES),),
    ).fetchall()
    for name, _definition in rows:
        conn.execute(f"DROP INDEX {name}")
    return [definition for _name, definition in rows]


class _Progress:
    def __init__(self, total: int, started: float | None) -> None:
        self.total = total
        self.started = started
        self.done = 0
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self.done += count
            if self.started is not None:
                rate = self.done / max(1e-9, time.monotonic() - self.started)
                print(
                    f"\r  generated {self.done:,}/{self.total:,} incidents ({rate:,.0f}/s)",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )

    def close(self) -> None:
        if self.started is not None:
            print(file=sys.stderr)


def _load(
    owner_url: str, size: Size, tenants: list[tuple[int, uuid.UUID]], t0: datetime, meter: _Progress
) -> None:
    """One loader: its share of the tenants, one transaction per batch of incident numbers."""
    analyzed = False
    with psycopg.connect(libpq_url(owner_url)) as conn:
        # Only this loading session: a benchmark dataset that a crash loses is simply generated again.
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET work_mem = '64MB'")
        conn.commit()
        for index, tenant_id in tenants:
            per_tenant = size.share(size.incidents, index)
            lags = _lags(size.events, per_tenant)
            slots = (per_tenant - 1 + lags[-1]) * size.events + size.events
            params: dict[str, Any] = {
                "tid": tenant_id,
                "tk": index << 40,
                "slug": tenant_slug(index),
                "issuer": ISSUER,
                "nt": per_tenant,
                "st": size.share(size.services, index),
                "e": size.events,
                "lags": lags,
                "t0": t0,
                "dt": SPAN.total_seconds() / slots,
            }
            with conn.transaction():
                _scope(conn, tenant_id)
                conn.execute(_SERVICES, params)
            for first in range(1, per_tenant + 1, BATCH):
                batch = {**params, "a": first, "b": min(per_tenant, first + BATCH - 1)}
                with conn.transaction():
                    _scope(conn, tenant_id)
                    conn.execute(_INCIDENTS, batch)
                    if not analyzed:
                        # Statistics before this session's first events: the foreign-key checks plan
                        # their lookup of the incident once per session, and would scan a table
                        # believed empty.
                        conn.execute("ANALYZE incidents")
                        analyzed = True
                    conn.execute(_EVENTS, batch)
                    conn.execute(_LEDGER_BATCH + _LEDGER, batch)
                meter.add(batch["b"] - batch["a"] + 1)
            with conn.transaction():
                _scope(conn, tenant_id)
                conn.execute(_COUNTERS, params)


def _scope(conn: psycopg.Connection[Any], tenant_id: uuid.UUID) -> None:
    """Row-level security is forced on the owner too, unless it is a superuser: scope each transaction to
    the tenant it writes, exactly as the app does."""
    conn.execute("SELECT set_config('app.tenant_ids', %s, true)", (str(tenant_id),))


def ensure(cluster: Cluster, size: Size) -> str:
    """The owner URL of a database holding ``size``'s data: reused when its label matches, else made."""
    name = size.database
    if cluster.exists(name) and cluster.label(name) == size.label():
        return cluster.migrate(name)
    print(f"generating {size.describe()} into {name} ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    owner_url = cluster.fresh(name)
    generate(owner_url, cluster.app_url(name), size)
    cluster.set_label(name, size.label())
    print(f"  done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return owner_url


def size_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Size()
    parser.add_argument("--tenants", type=int, default=defaults.tenants)
    parser.add_argument("--services", type=int, default=defaults.services)
    parser.add_argument("--incidents", type=int, default=defaults.incidents)
    parser.add_argument("--events-per-incident", type=int, default=defaults.events, dest="events")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size_arguments(parser)
    parser.add_argument(
        "--database-url",
        help="owner URL of an empty database to fill (migrated first); default: the bench's own cluster",
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".incidentdesk" / "bench")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    size = Size(args.tenants, args.services, args.incidents, args.events)
    if args.database_url:
        from domain.db import app_url_from_owner_url
        from domain.migrate import upgrade

        upgrade(args.database_url)
        generate(args.database_url, app_url_from_owner_url(args.database_url), size)
        return
    with open_cluster(None, args.data_dir) as cluster:
        print(f"{size.database}: {ensure(cluster, size)}")


if __name__ == "__main__":
    main()
