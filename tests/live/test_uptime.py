"""The uptime arithmetic against a brute-force count: random status histories are written to the real
database, read back as minutes per local day and status by the page's one statement, and compared with
a minute-by-minute walk of the same history; the weighting is checked the same way."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from domain.bulletins.models import BulletinEvent, BulletinEventKind
from domain.bulletins.phases import ServiceStatus
from domain.bulletins.uptime import WEIGHTS, daily_uptime, uptime
from domain.catalog.models import Service
from domain.db import Database, Scope
from domain.tenancy.roles import Role
from tests import factories as f

DAYS = 4
# Instants whose last few days cross a DST change in some of the zones below.
NOWS = [
    datetime(2026, 3, 30, 10, 17, tzinfo=UTC),  # Europe: summer time began on 29 March
    datetime(2026, 11, 2, 23, 59, tzinfo=UTC),  # US: standard time began on 1 November
    datetime(2026, 6, 15, 0, 0, tzinfo=UTC),
]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
SPAN = (DAYS + 1) * 24 * 60  # minutes before ``now`` that a change or a creation may fall at


@dataclass(frozen=True)
class Change:
    minutes_before_now: int
    status: ServiceStatus


@dataclass
class World:
    tenant: uuid.UUID
    services: list[uuid.UUID]


@pytest_asyncio.fixture(scope="module")
async def world(db: Database) -> World:
    tenant = await f.create_tenant(db, "uptime")
    manager = f.actor("mary", {tenant.id: Role.MANAGER})
    services = [(await f.create_service(db, manager, tenant.id, name)).id for name in ("Mail", "Web")]
    return World(tenant.id, services)


statuses = st.sampled_from(list(ServiceStatus))
changes = st.lists(
    st.builds(Change, st.integers(min_value=0, max_value=SPAN + 24 * 60), statuses), max_size=8
)


def brute_force(
    changes: list[Change], created_minutes_before_now: int, now: datetime, zone: str
) -> dict[date, dict[ServiceStatus, int]]:
    """Walk every minute of the period: its status is that of the last change at or before it (the
    later one among changes at the same minute), OPERATIONAL before any."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    first_day = date.fromordinal(today.toordinal() - (DAYS - 1))
    start = datetime.combine(first_day, datetime.min.time(), tz).astimezone(UTC)
    created = now - timedelta(minutes=created_minutes_before_now)
    ordered = sorted(enumerate(changes), key=lambda c: (-c[1].minutes_before_now, c[0]))
    found: dict[date, dict[ServiceStatus, int]] = {}
    minute = max(start, created)
    while minute < now:
        status = ServiceStatus.OPERATIONAL
        for _, change in ordered:
            if now - timedelta(minutes=change.minutes_before_now) <= minute:
                status = change.status
        day = found.setdefault(minute.astimezone(tz).date(), {})
        day[status] = day.get(status, 0) + 1
        minute += timedelta(minutes=1)
    return found


class Rollback(Exception):
    """Raised to undo what one example wrote."""


@settings(max_examples=60, deadline=None)
@given(
    history=st.lists(changes, min_size=2, max_size=2),
    created=st.lists(st.integers(min_value=0, max_value=SPAN), min_size=2, max_size=2),
    now=st.sampled_from(NOWS),
    zone=st.sampled_from(ZONES),
)
async def test_daily_minutes_and_uptime_match_a_minute_by_minute_count(
    db: Database,
    world: World,
    history: list[list[Change]],
    created: list[int],
    now: datetime,
    zone: str,
) -> None:
    try:
        async with db.transaction(Scope.of([world.tenant])) as session:
            seq = 10**9
            for service_id, service_changes, created_before in zip(
                world.services, history, created, strict=True
            ):
                await session.execute(
                    update(Service)
                    .where(Service.tenant_id == world.tenant, Service.id == service_id)
                    .values(created_at=now - timedelta(minutes=created_before))
                )
                for change in service_changes:
                    seq += 1
                    session.add(
                        BulletinEvent(
                            tenant_id=world.tenant,
                            id=uuid.uuid4(),
                            seq=seq,
                            kind=BulletinEventKind.SERVICE_STATUS_CHANGED,
                            published=True,
                            service_id=service_id,
                            status=change.status,
                            data={},
                            at=now - timedelta(minutes=change.minutes_before_now),
                        )
                    )
            await session.flush()
            read = await daily_uptime(
                session,
                tenant_id=world.tenant,
                timezone=zone,
                service_ids=world.services,
                now=now,
                days=DAYS,
            )
            raise Rollback
    except Rollback:
        pass
    for service_id, service_changes, created_before in zip(world.services, history, created, strict=True):
        expected = brute_force(service_changes, created_before, now, zone)
        got = read[service_id]
        assert len(got.days) == DAYS
        assert got.days[-1].day == now.astimezone(ZoneInfo(zone)).date()
        assert {d.day: dict(d.minutes) for d in got.days if d.minutes} == expected
        everything: dict[ServiceStatus, int] = {}
        for day in expected.values():
            for status, minutes in day.items():
                everything[status] = everything.get(status, 0) + minutes
        total = sum(everything.values())
        down = sum(WEIGHTS[status] * m for status, m in everything.items())
        assert got.ratio == (None if total == 0 else 1 - Fraction(down) / total)


@given(st.dictionaries(statuses, st.integers(min_value=0, max_value=10**6)))
def test_uptime_is_a_share_and_counts_a_major_outage_fully(minutes: dict[ServiceStatus, int]) -> None:
    ratio = uptime(minutes)
    if sum(minutes.values()) == 0:
        assert ratio is None
        return
    assert ratio is not None and 0 <= ratio <= 1
    if all(s is ServiceStatus.MAJOR_OUTAGE or m == 0 for s, m in minutes.items()):
        assert ratio == 0
    assert uptime({ServiceStatus.OPERATIONAL: 90, ServiceStatus.MAJOR_OUTAGE: 10}) == Fraction(9, 10)
