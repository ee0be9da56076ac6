"""The work report against a brute-force sum in Python, on generated work logs.

Tenants in four timezones (two DST rules of the northern hemisphere, Lord Howe's half-hour DST of the
southern one, and Kathmandu's +05:45) get random incidents, services and work entries over three months,
written straight into the tables. Many entries fall on purpose near local midnight, near the DST changes
and on month ends. Independently, this test asks ``zoneinfo`` for each entry's local day and sums the
minutes per group in Python. The domain's report for every combination of groupings, and the GraphQL
report and the CSV export for a selection of them, must give exactly those sums, in the report's order.
"""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from sqlalchemy import Engine, text

from domain.billing.report import WorkGroup, WorkGrouping, work_report
from domain.catalog.slugs import slug_of
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.billing.support import export, read_csv
from tests.billing.support import work_report as graphql_report

G = WorkGrouping
ZONES = {
    "berlin": "Europe/Berlin",
    "new-york": "America/New_York",
    "lord-howe": "Australia/Lord_Howe",
    "kathmandu": "Asia/Kathmandu",
}
FIRST, LAST = date(2026, 2, 20), date(2026, 5, 10)
ENTRIES = 300
AGENTS = ("alice", "bob", "chen", "dana")
SERVICES = ("mail", "network", "storage")
# The periods reports are read for: spring's DST changes, a month end, one DST day, everything.
PERIODS = [
    (date(2026, 3, 1), date(2026, 4, 30)),
    (date(2026, 3, 8), date(2026, 3, 8)),
    (date(2026, 3, 29), date(2026, 4, 5)),
    (FIRST, LAST),
]


@dataclass(frozen=True)
class Entry:
    incident_id: uuid.UUID
    author: str
    minutes: int
    billable: bool
    worked_at: datetime


@dataclass
class Books:
    tenant_id: uuid.UUID
    zone: ZoneInfo
    services: dict[uuid.UUID, str]
    incidents: dict[uuid.UUID, tuple[int, uuid.UUID | None]]  # id -> (number, service)
    entries: list[Entry]


def _transitions(zone: ZoneInfo) -> list[datetime]:
    """The instants in [FIRST, LAST] at which the zone's offset changes, found hour by hour."""
    found = []
    at = datetime.combine(FIRST, datetime.min.time(), UTC)
    while at.date() <= LAST:
        if (at + timedelta(hours=1)).astimezone(zone).utcoffset() != at.astimezone(zone).utcoffset():
            found.append(at + timedelta(hours=1))
        at += timedelta(hours=1)
    return found


def _instant(rng: random.Random, zone: ZoneInfo, transitions: list[datetime]) -> datetime:
    span = int(
        (
            datetime.combine(LAST, datetime.min.time()) - datetime.combine(FIRST, datetime.min.time())
        ).total_seconds()
        // 60
    )
    start = datetime.combine(FIRST, datetime.min.time(), UTC)
    kind = rng.random()
    if kind < 0.4:
        return start + timedelta(minutes=rng.randrange(span))
    if kind < 0.8:  # around a local midnight, month ends included
        day = FIRST + timedelta(days=rng.randrange((LAST - FIRST).days))
        if rng.random() < 0.3:
            day = (day.replace(day=1) - timedelta(days=1)) if day.day < 15 else day
        local = datetime.combine(day, datetime.min.time()) + timedelta(minutes=rng.randrange(-90, 90))
        return local.replace(tzinfo=zone, fold=rng.randrange(2)).astimezone(UTC)
    if transitions:  # around a DST change
        return rng.choice(transitions) + timedelta(minutes=rng.randrange(-120, 120))
    return start + timedelta(minutes=rng.randrange(span))


def _generate(rng: random.Random, tenant_id: uuid.UUID, zone: ZoneInfo) -> Books:
    services = {uuid.uuid4(): name for name in SERVICES}
    incidents = {
        uuid.uuid4(): (number, rng.choice([*services, None])) for number in range(1, rng.randrange(8, 14))
    }
    transitions = _transitions(zone)
    entries = [
        Entry(
            incident_id=rng.choice(list(incidents)),
            author=rng.choice(AGENTS),
            minutes=rng.randrange(1, 1441),
            billable=rng.random() < 0.7,
            worked_at=_instant(rng, zone, transitions),
        )
        for _ in range(ENTRIES)
    ]
    return Books(tenant_id, zone, services, incidents, entries)


def _write(owner: Engine, books: Books) -> None:
    with owner.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO services (tenant_id, id, name, slug, created_at) VALUES (:t, :i, :n, :s, now())"
            ),
            [
                {"t": books.tenant_id, "i": i, "n": name, "s": slug_of(name)}
                for i, name in books.services.items()
            ],
        )
        connection.execute(
            text(
                "INSERT INTO incidents (tenant_id, id, number, title, description, status, source, impact,"
                " urgency, priority, priority_overridden, major, service_id, reported_by, reported_by_issuer,"
                " sla_breached, version, reported_at, updated_at)"
                " VALUES (:t, :i, :n, :title, '', 'IN_PROGRESS', 'SERVICE_DESK', 'LOW', 'LOW', 'P5', false,"
                " false, :s, 'brute', 'brute', false, 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
            ),
            [
                {"t": books.tenant_id, "i": i, "n": number, "title": f"incident {number}", "s": service}
                for i, (number, service) in books.incidents.items()
            ],
        )
        connection.execute(
            text(
                "INSERT INTO work_log (tenant_id, id, incident_id, author, author_issuer, minutes, billable,"
                " note, worked_at, logged_at) VALUES (:t, :i, :incident, :author, :issuer, :minutes,"
                " :billable, 'brute force', :at, :at)"
            ),
            [
                {
                    "t": books.tenant_id,
                    "i": uuid.uuid4(),
                    "incident": e.incident_id,
                    "author": e.author,
                    "issuer": f.ISSUER,
                    "minutes": e.minutes,
                    "billable": e.billable,
                    "at": e.worked_at,
                }
                for e in books.entries
            ],
        )


# ---------------------------------------------------------------- the brute force

Key = tuple[Any, ...]


def _part(grouping: WorkGrouping, books: Books, entry: Entry, day: date) -> Any:
    if grouping is G.AGENT:
        return entry.author
    if grouping is G.INCIDENT:
        return entry.incident_id
    if grouping is G.SERVICE:
        return books.incidents[entry.incident_id][1]
    if grouping is G.DAY:
        return day
    if grouping is G.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def expected(
    books: Books, start: date, end: date, groups: list[WorkGrouping]
) -> dict[Key, tuple[int, int, int]]:
    sums: dict[Key, list[int]] = {}
    for entry in books.entries:
        day = entry.worked_at.astimezone(books.zone).date()
        if not start <= day <= end:
            continue
        figures = sums.setdefault(tuple(_part(g, books, entry, day) for g in groups), [0, 0, 0])
        figures[0 if entry.billable else 1] += entry.minutes
        figures[2] += 1
    return {key: (b, n, c) for key, (b, n, c) in sums.items()}


def _order(books: Books, key: Key, groups: list[WorkGrouping]) -> tuple[Any, ...]:
    """How the report orders its rows: by each grouping in turn (incidents by number, services by name,
    no service last)."""
    parts: list[Any] = []
    for grouping, value in zip(groups, key, strict=True):
        if grouping is G.INCIDENT:
            parts.append(books.incidents[value][0])
        elif grouping is G.SERVICE:
            parts.append((value is None, books.services.get(value, "")))
        else:
            parts.append(value)
    return tuple(parts)


def _total(sums: dict[Key, tuple[int, int, int]]) -> tuple[int, int, int]:
    return (
        sum(v[0] for v in sums.values()),
        sum(v[1] for v in sums.values()),
        sum(v[2] for v in sums.values()),
    )


def _key_of(group: WorkGroup, groups: list[WorkGrouping]) -> Key:
    values = {
        G.AGENT: group.agent,
        G.INCIDENT: group.incident_id,
        G.SERVICE: group.service_id,
        G.DAY: group.day,
        G.WEEK: group.week,
        G.MONTH: group.month,
    }
    return tuple(values[g] for g in groups)


# ---------------------------------------------------------------- fixtures


@dataclass
class World:
    books: dict[str, Books]
    token: str
    manager: Any


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, owner: Engine, settings: Settings) -> World:
    rng = random.Random(20261201)
    books = {}
    for slug, zone in ZONES.items():
        tenant = await f.create_tenant(db, slug, timezone=zone)
        await f.add_member(db, tenant.id, "mona", Role.MANAGER)
        books[slug] = _generate(rng, tenant.id, ZoneInfo(zone))
        _write(owner, books[slug])
    manager = f.actor("mona", {b.tenant_id: Role.MANAGER for b in books.values()})
    return World(books=books, token=await f.mint_token(settings, db, "mona"), manager=manager)


ALL_GROUPINGS = [list(c) for n in range(len(G) + 1) for c in itertools.combinations(list(G), n)]


def test_the_data_is_varied_enough_to_test_something(world: World) -> None:
    for books in world.books.values():
        days = {e.worked_at.astimezone(books.zone).date() for e in books.entries}
        utc_days = {e.worked_at.date() for e in books.entries}
        assert len(days) > 40 and days != utc_days
        # entries whose local day differs from their UTC day: the timezone matters
        assert (
            sum(e.worked_at.astimezone(books.zone).date() != e.worked_at.date() for e in books.entries) > 30
        )
    assert _transitions(world.books["lord-howe"].zone) and _transitions(world.books["new-york"].zone)


@pytest.mark.parametrize("slug", list(ZONES))
async def test_every_grouping_of_the_report_equals_the_brute_force(
    db: Database, world: World, slug: str
) -> None:
    books = world.books[slug]
    for start, end in PERIODS:
        for groups in ALL_GROUPINGS if (start, end) == PERIODS[0] else ALL_GROUPINGS[::7]:
            want = expected(books, start, end, groups)
            report = await work_report(
                db, world.manager, tenant_id=books.tenant_id, start=start, end=end, group_by=groups
            )
            assert (
                report.total.billable_minutes,
                report.total.non_billable_minutes,
                report.total.entries,
            ) == _total(want), (slug, start, end, groups)
            if not groups:
                assert len(report.rows) == 1 and report.rows[0].figures == report.total
                continue
            got = [
                (
                    _key_of(r, groups),
                    (r.figures.billable_minutes, r.figures.non_billable_minutes, r.figures.entries),
                )
                for r in report.rows
            ]
            assert dict(got) == want, (slug, start, end, groups)
            keys = [key for key, _ in got]
            assert keys == sorted(keys, key=lambda k: _order(books, k, groups)), (slug, groups)


def _from_graphql(row: dict[str, Any], groups: list[WorkGrouping]) -> Key:
    values = {
        G.AGENT: lambda: row["agent"],
        G.INCIDENT: lambda: f.row_id(row["incident"]["id"]),
        G.SERVICE: lambda: row["service"] and f.row_id(row["service"]["id"]),
        G.DAY: lambda: date.fromisoformat(row["day"]),
        G.WEEK: lambda: date.fromisoformat(row["weekStart"]),
        G.MONTH: lambda: date.fromisoformat(row["month"] + "-01"),
    }
    return tuple(values[g]() for g in groups)


def _from_csv(
    row: dict[str, str],
    groups: list[WorkGrouping],
    numbers: dict[int, uuid.UUID],
    services: dict[str, uuid.UUID],
) -> Key:
    values = {
        G.AGENT: lambda: row["agent"],
        G.INCIDENT: lambda: numbers[int(row["incident"].removeprefix("INC-"))],
        G.SERVICE: lambda: services.get(row["service"]),
        G.DAY: lambda: date.fromisoformat(row["day"]),
        G.WEEK: lambda: date.fromisoformat(row["week_start"]),
        G.MONTH: lambda: date.fromisoformat(row["month"] + "-01"),
    }
    return tuple(values[g]() for g in groups)


# Over HTTP, each grouping at least once (the domain's report is checked with every combination).
SAMPLED = [[], ["AGENT"], ["SERVICE", "INCIDENT"], ["MONTH", "SERVICE", "AGENT"], ["WEEK", "INCIDENT", "DAY"]]


@pytest.mark.parametrize("slug", list(ZONES))
def test_the_graphql_report_and_the_csv_export_equal_the_brute_force(
    live: f.LiveApp, world: World, slug: str
) -> None:
    books = world.books[slug]
    numbers = {number: i for i, (number, _) in books.incidents.items()}
    services = {name: i for i, name in books.services.items()}
    start, end = PERIODS[0]
    for names in SAMPLED:
        groups = [G(n) for n in names]
        want = expected(books, start, end, groups)
        body = graphql_report(live, world.token, slug, start.isoformat(), end.isoformat(), names)
        assert not body.get("errors"), body
        rows = body["data"]["workReport"]["rows"]
        response = export(
            live,
            world.token,
            f"/reports/{slug}/work.csv",
            **{"from": start.isoformat(), "to": end.isoformat(), "groupBy": ",".join(names)},
        )
        records = read_csv(response)
        if not groups:
            total = body["data"]["workReport"]["total"]
            assert (total["billableMinutes"], total["nonBillableMinutes"], total["entries"]) == _total(want)
            assert [
                (int(r["billable_minutes"]), int(r["non_billable_minutes"]), int(r["entries"]))
                for r in records
            ] == [_total(want)]
            continue

        graphql = [
            (_from_graphql(r, groups), (r["billableMinutes"], r["nonBillableMinutes"], r["entries"]))
            for r in rows
        ]
        csv_rows = [
            (
                _from_csv(r, groups, numbers, services),
                (int(r["billable_minutes"]), int(r["non_billable_minutes"]), int(r["entries"])),
            )
            for r in records
        ]
        assert dict(graphql) == want, (slug, names)
        assert csv_rows == graphql, (slug, names)
