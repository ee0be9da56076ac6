"""The SLA report against a brute-force, minute-by-minute count on random data.

Random incidents with random histories (acknowledge, holds for pausing and other reasons, resumes,
priority changes, resolutions, reopenings, closures, cancellations, ratings) are written straight into
the tables, all on whole minutes over six weeks that include both DST changes of the spring. The scanner
computes their stored outcomes at a fixed ``NOW``; the report is read in one statement. Independently,
this test walks every minute of every incident's life: it asks ``zoneinfo`` for the minute's local wall
time, checks the contract's business hours and holidays, applies the history's entries as the minutes
reach them, counts, and derives compliance, MTTA, MTTR and satisfaction per priority. Both must agree.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from sqlalchemy import Engine, text

from auth import Principal
from domain.db import Database
from domain.incidents.enums import HoldReason, Priority
from domain.sla.report import SlaReport, sla_report
from domain.sla.scanner import scan_once
from domain.sla.trends import TrendGrouping, TrendInterval, incident_trends
from domain.tenancy.roles import Role
from tests import factories as f
from tests.sla.support import TARGETS, create_contract

START = datetime(2026, 3, 1, tzinfo=UTC)
NOW = datetime(2026, 4, 12, 12, 0, tzinfo=UTC)
FROM = datetime(2026, 3, 5, tzinfo=UTC)
TO = datetime(2026, 4, 5, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
PAUSING = {HoldReason.AWAITING_CUSTOMER}
PER_TENANT = 70


@dataclass(frozen=True)
class Hours:
    """A contract's calendar as the brute force reads it: minutes of the local day per ISO weekday."""

    zone: str
    spans: dict[int, list[tuple[int, int]]]  # weekday -> [(start minute, end minute)]
    holidays: frozenset[date]

    def business(self, instant: datetime) -> bool:
        local = instant.astimezone(ZoneInfo(self.zone))
        if local.date() in self.holidays:
            return False
        if not self.spans:
            return True
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in self.spans.get(local.isoweekday(), []))


OFFICE = Hours(
    "Europe/Berlin",
    {
        **{day: [(8 * 60, 12 * 60), (13 * 60, 18 * 60)] for day in range(1, 6)},
        6: [(9 * 60, 13 * 60)],
        7: [(22 * 60, 24 * 60)],
    },
    frozenset({date(2026, 4, 3), date(2026, 4, 6)}),  # Good Friday, Easter Monday
)
ALWAYS = Hours("America/New_York", {}, frozenset())


def _hours_input(hours: Hours) -> list[tuple[int, str, str]]:
    def hhmm(minute: int) -> str:
        return "24:00" if minute == 1440 else f"{minute // 60:02d}:{minute % 60:02d}"

    return [(day, hhmm(a), hhmm(b)) for day, spans in hours.spans.items() for a, b in spans]


# ---------------------------------------------------------------- random lives


@dataclass
class Life:
    id: uuid.UUID
    reported_at: datetime
    entries: list[tuple[datetime, str, str | None, str | None]] = field(default_factory=list)
    status: str = "NEW"
    responded_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    score: int | None = None


def random_life(rng: random.Random) -> Life:
    reported = START + rng.randrange(int((NOW - START) / MINUTE) - 60 * 24) * MINUTE
    life = Life(uuid.uuid4(), reported)
    priority = rng.choice(list(Priority))
    life.entries.append((reported, "START", priority.value, None))
    at = reported
    hold: HoldReason | None = None
    for _ in range(rng.randrange(9)):
        at += (
            rng.choice([rng.randrange(1, 90), rng.randrange(60, 60 * 30), rng.randrange(60 * 24, 60 * 96)])
            * MINUTE
        )
        if at > NOW:
            break
        status = life.status
        if status == "NEW":
            move = rng.choice(["ack", "ack", "ack", "resolve", "cancel", "priority"])
        elif status == "IN_PROGRESS":
            move = rng.choice(["hold", "hold", "resolve", "resolve", "cancel", "priority"])
        elif status == "ON_HOLD":
            move = rng.choice(["resume", "resume", "resolve", "cancel"])
        elif status == "RESOLVED":
            move = rng.choice(["reopen", "close", "close"])
        else:
            break
        if move == "ack":
            life.entries.append((at, "RESPOND", None, None))
            life.status, life.responded_at = "IN_PROGRESS", at
        elif move == "priority":
            priority = rng.choice([p for p in Priority if p is not priority])
            life.entries.append((at, "PRIORITY", priority.value, None))
        elif move == "hold":
            hold = rng.choice(list(HoldReason))
            life.entries.append((at, "HOLD", None, hold.value))
            life.status = "ON_HOLD"
        elif move == "resume":
            life.entries.append((at, "RESUME", None, None))
            life.status = "IN_PROGRESS"
        elif move == "resolve":
            if life.responded_at is None:
                life.entries.append((at, "RESPOND", None, None))
                life.responded_at = at
            life.entries.append((at, "RESOLVE", None, None))
            life.status, life.resolved_at = "RESOLVED", at
        elif move == "reopen":
            life.entries.append((at, "REOPEN", None, None))
            life.status, life.resolved_at = "IN_PROGRESS", None
        elif move == "close":
            life.entries.append((at, "CLOSE", None, None))
            life.status, life.closed_at = "CLOSED", at
        elif move == "cancel":
            life.entries.append((at, "CANCEL", None, None))
            life.status = "CANCELLED"
    if life.status in ("RESOLVED", "CLOSED") and rng.random() < 0.6:
        life.score = rng.randint(1, 5)
    return life


# ---------------------------------------------------------------- the brute force


@dataclass
class Clock:
    elapsed: int = 0
    stopped: bool = False
    cancelled: bool = False


def brute_force(life: Life, hours: Hours, business: dict[datetime, bool]) -> tuple[Priority, Clock, Clock]:
    """Both clocks of one life at NOW, walking every minute from the report."""
    response, resolution = Clock(), Clock()
    priority = Priority.P5
    paused = responded = resolved = terminal = False
    entries = sorted(life.entries, key=lambda e: e[0])  # stable: same-minute entries keep their order
    position = 0
    minute = life.reported_at
    while minute <= NOW:
        while position < len(entries) and entries[position][0] <= minute:
            _, kind, new_priority, reason = entries[position]
            position += 1
            if terminal:
                continue
            if kind in ("START", "PRIORITY"):
                priority = Priority(new_priority)
            elif kind == "HOLD":
                paused = HoldReason(reason) in PAUSING
            elif kind == "RESUME":
                paused = False
            elif kind == "RESPOND":
                responded = True
            elif kind == "RESOLVE":
                responded = resolved = True
                paused = False
            elif kind == "REOPEN":
                resolved = False
            elif kind == "CLOSE":
                responded = resolved = terminal = True
            elif kind == "CANCEL":
                response.cancelled, resolution.cancelled = not responded, not resolved
                responded = resolved = terminal = True
        if minute == NOW:
            break
        if business[minute]:
            if not responded and not paused:
                response.elapsed += 1
            if not resolved and not paused:
                resolution.elapsed += 1
        minute += MINUTE
    response.stopped, resolution.stopped = responded, resolved
    return priority, response, resolution


@dataclass
class Expected:
    incidents: int = 0
    response_met: int = 0
    response_decided: int = 0
    resolution_met: int = 0
    resolution_decided: int = 0
    breached: int = 0
    respond_minutes: list[int] = field(default_factory=list)
    resolve_minutes: list[int] = field(default_factory=list)
    scores: list[int] = field(default_factory=list)


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


def _percent(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def expected_report(
    lives: list[Life], hours: Hours
) -> tuple[Expected, dict[Priority, Expected], dict[uuid.UUID, Any]]:
    business = {}
    minute = START
    while minute < NOW:
        business[minute] = hours.business(minute)
        minute += MINUTE
    total = Expected()
    per = {p: Expected() for p in Priority}
    clocks: dict[uuid.UUID, Any] = {}
    for life in lives:
        priority, response, resolution = brute_force(life, hours, business)
        clocks[life.id] = (priority, response, resolution)
        if not FROM <= life.reported_at < TO or life.status == "CANCELLED":
            continue
        response_target, resolution_target = TARGETS[priority]
        verdicts = {}
        for name, clock, target in (
            ("response", response, response_target),
            ("resolution", resolution, resolution_target),
        ):
            over = clock.elapsed > target and not clock.cancelled
            verdicts[name] = (
                not clock.cancelled and (clock.stopped or over),  # decided
                not clock.cancelled and clock.stopped and not over,  # met
                not clock.cancelled and clock.stopped,  # finished: counts in the mean
                over,
            )
        for figures in (total, per[priority]):
            figures.incidents += 1
            figures.response_decided += verdicts["response"][0]
            figures.response_met += verdicts["response"][1]
            figures.resolution_decided += verdicts["resolution"][0]
            figures.resolution_met += verdicts["resolution"][1]
            figures.breached += verdicts["response"][3] or verdicts["resolution"][3]
            if verdicts["response"][2]:
                figures.respond_minutes.append(response.elapsed)
            if verdicts["resolution"][2]:
                figures.resolve_minutes.append(resolution.elapsed)
            if life.score is not None:
                figures.scores.append(life.score)
    return total, per, clocks


# ---------------------------------------------------------------- the database


def category_of(life: Life) -> str | None:
    # From the id rather than the random generator, so the lives themselves stay as they were.
    return ["network", "email", None][life.id.int % 3]


def write(owner: Engine, tenant_id: uuid.UUID, lives: list[Life]) -> None:
    with owner.begin() as connection:
        for number, life in enumerate(lives, start=1):
            connection.execute(
                text(
                    "INSERT INTO incidents (tenant_id, id, number, title, description, status, source, impact,"
                    " urgency, priority, priority_overridden, major, reported_by, reported_by_issuer,"
                    " sla_breached, version, reported_at, updated_at, responded_at, resolved_at, closed_at,"
                    " satisfaction_score, rated_at, category)"
                    " VALUES (:t, :i, :n, 'random', '', :status, 'SERVICE_DESK', 'LOW', 'LOW', :priority,"
                    " true, false, 'brute', 'brute', false, 1, :reported, :reported, :responded, :resolved,"
                    " :closed, :score, :rated, :category)"
                ),
                {
                    "t": tenant_id,
                    "i": life.id,
                    "n": 10_000 + number,
                    "status": life.status,
                    "priority": next(e[2] for e in reversed(life.entries) if e[2] is not None),
                    "reported": life.reported_at,
                    "responded": life.responded_at,
                    "resolved": life.resolved_at,
                    "closed": life.closed_at,
                    "score": life.score,
                    "rated": None if life.score is None else life.reported_at,
                    "category": category_of(life),
                },
            )
            for at, kind, priority, reason in life.entries:  # one by one: ids keep the order
                connection.execute(
                    text(
                        "INSERT INTO incident_clock_history (tenant_id, incident_id, at, kind, priority,"
                        " hold_reason) VALUES (:t, :i, :at, :kind, :priority, :reason)"
                    ),
                    {
                        "t": tenant_id,
                        "i": life.id,
                        "at": at,
                        "kind": kind,
                        "priority": priority,
                        "reason": reason,
                    },
                )
            # queued for the scanner, as a contract created after the fact queues what it governs
            connection.execute(
                text("INSERT INTO incident_sla (tenant_id, incident_id, next_due_at) VALUES (:t, :i, :at)"),
                {"t": tenant_id, "i": life.id, "at": life.reported_at},
            )


@dataclass
class Tenant:
    id: uuid.UUID
    manager: Principal
    hours: Hours
    lives: list[Life]


@pytest_asyncio.fixture(scope="module")
async def tenants(db: Database, owner: Engine) -> AsyncIterator[list[Tenant]]:
    rng = random.Random(20261127)
    found = []
    for slug, hours in (("office", OFFICE), ("always", ALWAYS)):
        tenant = await f.create_tenant(db, slug, timezone=hours.zone)
        await f.add_member(db, tenant.id, "mona", Role.MANAGER)
        manager = f.actor("mona", {tenant.id: Role.MANAGER})
        await create_contract(
            db,
            manager,
            tenant.id,
            effective_from=datetime(2020, 1, 1, tzinfo=UTC),
            timezone=hours.zone,
            hours=_hours_input(hours),
            holidays=[d.isoformat() for d in sorted(hours.holidays)],
            pause_on=tuple(PAUSING),
        )
        lives = [random_life(rng) for _ in range(PER_TENANT)]
        write(owner, tenant.id, lives)
        found.append(Tenant(tenant.id, manager, hours, lives))
    result = await scan_once(db, now=NOW, batch=50)
    assert result.refreshed == 2 * PER_TENANT and result.skipped == 0
    yield found


def _close(actual: float | None, expected: float | None) -> bool:
    if expected is None:
        return actual is None
    return actual is not None and actual == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("index", [0, 1], ids=["berlin-office-hours", "new-york-24x7"])
async def test_the_report_matches_the_minute_by_minute_count(
    db: Database, owner: Engine, tenants: list[Tenant], index: int
) -> None:
    tenant = tenants[index]
    total, per, clocks = expected_report(tenant.lives, tenant.hours)
    # the data is varied enough to test something
    assert total.incidents > 20 and 0 < total.response_met < total.response_decided
    assert 0 < total.resolution_met < total.resolution_decided and total.scores

    # every stored outcome is the brute-force count, to the minute
    with owner.connect() as connection:
        stored = {
            row.incident_id: row
            for row in connection.execute(
                text("SELECT * FROM incident_sla WHERE tenant_id = :t"), {"t": tenant.id}
            )
        }
    for life in tenant.lives:
        priority, response, resolution = clocks[life.id]
        row = stored[life.id]
        assert row.priority == priority.value, life
        assert row.response_elapsed_us == response.elapsed * 60_000_000, (life, response)
        assert row.resolution_elapsed_us == resolution.elapsed * 60_000_000, (life, resolution)
        assert (row.response_stopped, row.response_cancelled) == (response.stopped, response.cancelled)
        assert (row.resolution_stopped, row.resolution_cancelled) == (
            resolution.stopped,
            resolution.cancelled,
        )

    report: SlaReport = await sla_report(db, tenant.manager, tenant_id=tenant.id, start=FROM, end=TO)
    assert report.incidents == total.incidents
    assert _close(report.response_compliance_percent, _percent(total.response_met, total.response_decided))
    assert _close(
        report.resolution_compliance_percent, _percent(total.resolution_met, total.resolution_decided)
    )
    assert _close(report.mean_time_to_respond_minutes, _mean(total.respond_minutes))
    assert _close(report.mean_time_to_resolve_minutes, _mean(total.resolve_minutes))
    assert _close(report.average_satisfaction, _mean(total.scores))
    for figures in report.by_priority:
        want = per[figures.priority]
        assert figures.incidents == want.incidents, figures.priority
        assert figures.response_met == want.response_met, figures.priority
        assert figures.resolution_met == want.resolution_met, figures.priority
        assert figures.breached == want.breached, figures.priority
        assert _close(figures.mean_time_to_respond_minutes, _mean(want.respond_minutes)), figures.priority
        assert _close(figures.mean_time_to_resolve_minutes, _mean(want.resolve_minutes)), figures.priority
        assert _close(figures.response_compliance_percent, _percent(want.response_met, want.response_decided))
        assert _close(
            figures.resolution_compliance_percent, _percent(want.resolution_met, want.resolution_decided)
        )


# ---------------------------------------------------------------- trends


def _period_start(instant: datetime, zone: str, interval: TrendInterval) -> date:
    local = instant.astimezone(ZoneInfo(zone)).date()
    if interval is TrendInterval.WEEK:
        return local - timedelta(days=local.isoweekday() - 1)
    if interval is TrendInterval.MONTH:
        return local.replace(day=1)
    return local


def expected_trends(
    tenant: Tenant, clocks: dict[uuid.UUID, Any], interval: TrendInterval, grouping: TrendGrouping | None
) -> dict[tuple[date, object], Expected]:
    """The report's figures per (period, group), counted one life at a time."""
    buckets: dict[tuple[date, object], Expected] = {}
    for life in tenant.lives:
        if not FROM <= life.reported_at < TO or life.status == "CANCELLED":
            continue
        priority, response, resolution = clocks[life.id]
        key = {TrendGrouping.PRIORITY: priority, TrendGrouping.CATEGORY: category_of(life), None: None}[
            grouping
        ]
        figures = buckets.setdefault(
            (_period_start(life.reported_at, tenant.hours.zone, interval), key), Expected()
        )
        response_target, resolution_target = TARGETS[priority]
        figures.incidents += 1
        over = [
            clock.elapsed > target and not clock.cancelled
            for clock, target in ((response, response_target), (resolution, resolution_target))
        ]
        figures.breached += any(over)
        if response.stopped and not response.cancelled:
            figures.respond_minutes.append(response.elapsed)
        if resolution.stopped and not resolution.cancelled:
            figures.resolve_minutes.append(resolution.elapsed)
        if life.score is not None:
            figures.scores.append(life.score)
    return buckets


@pytest.mark.parametrize(
    ("interval", "grouping"),
    [
        (TrendInterval.WEEK, TrendGrouping.PRIORITY),
        (TrendInterval.DAY, None),
        (TrendInterval.MONTH, TrendGrouping.CATEGORY),
    ],
)
@pytest.mark.parametrize("index", [0, 1], ids=["berlin-office-hours", "new-york-24x7"])
async def test_the_trends_match_the_minute_by_minute_count(
    db: Database, tenants: list[Tenant], index: int, interval: TrendInterval, grouping: TrendGrouping | None
) -> None:
    tenant = tenants[index]
    _, _, clocks = expected_report(tenant.lives, tenant.hours)
    expected = expected_trends(tenant, clocks, interval, grouping)
    trends = await incident_trends(
        db, tenant.manager, tenant_id=tenant.id, start=FROM, end=TO, interval=interval, group_by=grouping
    )
    assert len(expected) > 1
    got = {}
    for bucket in trends:
        key = {TrendGrouping.PRIORITY: bucket.priority, TrendGrouping.CATEGORY: bucket.category, None: None}[
            grouping
        ]
        got[(bucket.period_start, key)] = bucket
    assert got.keys() == expected.keys()
    assert [b.period_start for b in trends] == sorted(b.period_start for b in trends)
    for where, want in expected.items():
        bucket = got[where]
        assert bucket.incidents == want.incidents, where
        assert _close(bucket.mean_time_to_respond_minutes, _mean(want.respond_minutes)), where
        assert _close(bucket.mean_time_to_resolve_minutes, _mean(want.resolve_minutes)), where
        assert _close(bucket.breach_rate_percent, _percent(want.breached, want.incidents)), where
        assert _close(bucket.average_satisfaction, _mean(want.scores)), where
