"""Uptime of a tenant's services, day by day, from the stored history of their statuses.

The history is the tenant's ``SERVICE_STATUS_CHANGED`` bulletin events: each says which status a service
had from its ``at`` on (``ServiceStatusRow`` holds the last of them). One statement reads, for every
service of a page at once, the minutes each day spent in each status; days are calendar days in the
tenant's timezone, so a DST change gives a day of 23 or 25 hours. A service counts from its creation on
(earlier minutes are no data, not uptime), and today counts up to ``now``.

The uptime percentage weighs each minute by the status it was spent in (``WEIGHTS``): a major outage
minute is fully down, a partial outage minute half down, a degraded minute a tenth down; maintenance
was announced and does not count against the service. The weighting is a pure function (``uptime``),
shared by the page, the summary and the tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import DateTime, Integer, String

from domain.bulletins import phases
from domain.bulletins.phases import ServiceStatus

# How much of a minute in each status counts as down time. Fractions keep the arithmetic exact.
WEIGHTS: Mapping[ServiceStatus, Fraction] = {
    ServiceStatus.OPERATIONAL: Fraction(0),
    ServiceStatus.UNDER_MAINTENANCE: Fraction(0),
    ServiceStatus.DEGRADED_PERFORMANCE: Fraction(1, 10),
    ServiceStatus.PARTIAL_OUTAGE: Fraction(1, 2),
    ServiceStatus.MAJOR_OUTAGE: Fraction(1),
}

# What a status page shows: 90 days of bars.
PAGE_DAYS = 90


def uptime(minutes: Mapping[ServiceStatus, int]) -> Fraction | None:
    """The share of the minutes the service was up, each minute weighed by its status; None when there
    are no minutes at all (a service created after the period has no uptime, rather than 100%)."""
    total = sum(minutes.values())
    if total == 0:
        return None
    down = sum(WEIGHTS[status] * count for status, count in minutes.items())
    return 1 - Fraction(down) / total


@dataclass(frozen=True)
class Day:
    """One calendar day of one service: the minutes spent in each status. A status seen that day is
    present even when it lasted less than half a minute (0 minutes): a short outage still colours the
    day. Statuses never seen that day are absent; a day before the service existed has none."""

    day: date
    minutes: Mapping[ServiceStatus, int] = field(default_factory=dict)

    @property
    def worst(self) -> ServiceStatus | None:
        """The worst status of the day, which colours its bar; None for a day without data."""
        return phases.worst(self.minutes) if self.minutes else None


@dataclass(frozen=True)
class Uptime:
    """A service's days, oldest first, and its uptime over all of them."""

    days: Sequence[Day]

    @property
    def minutes(self) -> dict[ServiceStatus, int]:
        total: dict[ServiceStatus, int] = {}
        for day in self.days:
            for status, count in day.minutes.items():
                total[status] = total.get(status, 0) + count
        return total

    @property
    def ratio(self) -> Fraction | None:
        return uptime(self.minutes)


# The services' status intervals, cut at the tenant's day boundaries, summed per day and status.
# ``opening`` is the status each service had when the period began (or the service, if later): its last
# change before, else OPERATIONAL. Changes at the same instant are ordered by ``seq``: the last one stands.
DAILY_MINUTES = text(
    """
WITH days AS (
    SELECT day,
           (day::timestamp AT TIME ZONE :tz) AS day_start,
           LEAST(((day + 1)::timestamp AT TIME ZONE :tz), :now) AS day_end
    FROM (
        SELECT (:now AT TIME ZONE :tz)::date - n AS day FROM generate_series(0, :days - 1) AS n
    ) AS local_days
),
period AS (
    SELECT min(day_start) AS since FROM days
),
opening AS (
    SELECT s.id AS service_id,
           GREATEST(s.created_at, period.since) AS at,
           -1::bigint AS seq,
           COALESCE(
               (SELECT e.status FROM bulletin_events AS e
                 WHERE e.tenant_id = s.tenant_id AND e.service_id = s.id
                   AND e.kind = 'SERVICE_STATUS_CHANGED' AND e.at < GREATEST(s.created_at, period.since)
                 ORDER BY e.at DESC, e.seq DESC LIMIT 1),
               'OPERATIONAL'
           ) AS status
    FROM services AS s, period
    WHERE s.tenant_id = :tenant_id AND s.id = ANY(:service_ids) AND s.created_at < :now
),
changes AS (
    SELECT service_id, at, seq, status FROM opening
    UNION ALL
    SELECT e.service_id, e.at, e.seq, e.status
    FROM bulletin_events AS e JOIN opening AS o ON o.service_id = e.service_id
    WHERE e.tenant_id = :tenant_id AND e.kind = 'SERVICE_STATUS_CHANGED'
      AND e.at >= o.at AND e.at < :now
),
intervals AS (
    SELECT service_id, status, at AS since,
           COALESCE(LEAD(at) OVER (PARTITION BY service_id ORDER BY at, seq), :now) AS until
    FROM changes
)
SELECT i.service_id, d.day, i.status,
       ROUND(SUM(EXTRACT(EPOCH FROM LEAST(i.until, d.day_end) - GREATEST(i.since, d.day_start))) / 60)::int
           AS minutes
FROM intervals AS i JOIN days AS d ON i.since < d.day_end AND i.until > d.day_start
WHERE i.until > i.since
GROUP BY i.service_id, d.day, i.status
ORDER BY i.service_id, d.day, i.status
"""
).bindparams(
    bindparam("tenant_id", type_=UUID(as_uuid=True)),
    bindparam("service_ids", type_=ARRAY(UUID(as_uuid=True))),
    bindparam("tz", type_=String),
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("days", type_=Integer),
)


async def daily_uptime(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    timezone: str,
    service_ids: Iterable[uuid.UUID],
    now: datetime,
    days: int = PAGE_DAYS,
) -> dict[uuid.UUID, Uptime]:
    """The last ``days`` calendar days (today included, up to ``now``) of each service, in one
    statement. Every service asked for gets exactly ``days`` days, empty ones included."""
    wanted = list(service_ids)
    rows = await session.execute(
        DAILY_MINUTES,
        {"tenant_id": tenant_id, "service_ids": wanted, "tz": timezone, "now": now, "days": days},
    )
    found: dict[uuid.UUID, dict[date, dict[ServiceStatus, int]]] = {}
    for service_id, day, status, minutes in rows:
        found.setdefault(service_id, {}).setdefault(day, {})[ServiceStatus(status)] = minutes
    return {
        service_id: Uptime(
            [
                Day(day, found.get(service_id, {}).get(day, {}))
                for day in calendar(timezone=timezone, now=now, days=days)
            ]
        )
        for service_id in wanted
    }


def calendar(*, timezone: str, now: datetime, days: int) -> list[date]:
    """The period's days, oldest first, ending with today in the tenant's timezone."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    return [date.fromordinal(today.toordinal() - n) for n in reversed(range(days))]
