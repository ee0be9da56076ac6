"""Business-time arithmetic for an SLA calendar: pure, standard library only.

A calendar is a set of weekly business intervals (local wall-clock times in an IANA zone) minus holidays
(local dates). Empty hours mean every day all day (24x7). Time is counted as real elapsed time inside
windows whose edges are local wall-clock times: a 09:00-17:00 day is 8 hours on a DST change day too,
while a 24x7 day has 23 or 25 hours, as does any window that contains the change. A boundary that falls in
a spring-forward gap is read with the offset before the gap (RFC 5545), so 02:30 reads as 03:30 summer time.

Each calendar is compiled once (cached) into a sorted table of its business windows in UTC microseconds with
running totals, covering whole local years and grown on demand. Business time between two instants is then
two binary searches, whatever the span, and projecting a due instant is one more.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_DAY = 86_400 * US_PER_SECOND

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH_NAIVE.toordinal()
_MIN_YEAR = 2
_MAX_YEAR = 9997


@dataclass(frozen=True, slots=True)
class BusinessInterval:
    """One business interval on an ISO weekday (1 = Monday .. 7 = Sunday), local wall time.

    ``end == time(0, 0)`` means midnight at the end of the day ("24:00"). Hours that span midnight are
    two intervals: Monday 22:00-24:00 and Tuesday 00:00-06:00.
    """

    weekday: int
    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Calendar:
    """Where and when an SLA clock counts. ``hours`` empty means 24x7; ``holidays`` are local dates."""

    timezone: str
    hours: tuple[BusinessInterval, ...] = ()
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        # accept any iterables, keep the calendar hashable (it keys the compiled-schedule cache)
        object.__setattr__(self, "hours", tuple(self.hours))
        object.__setattr__(self, "holidays", frozenset(self.holidays))


def to_us(instant: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant!r}: an aware instant is required")
    delta = instant - EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_SECOND + delta.microseconds


def from_us(us: int) -> datetime:
    """The aware UTC datetime ``us`` microseconds after the Unix epoch."""
    return EPOCH + timedelta(microseconds=us)


def _offset_us(moment: time) -> int:
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * US_PER_SECOND + moment.microsecond


def _span(interval: BusinessInterval) -> tuple[int, int]:
    """(start, end) of an interval in microseconds after local midnight; end 00:00 reads as 24:00."""
    end = US_PER_DAY if interval.end == time(0, 0) else _offset_us(interval.end)
    return _offset_us(interval.start), end


def validate_business_hours(hours: Iterable[BusinessInterval]) -> list[str]:
    """Problems with a set of business intervals, in words a user can act on; empty when valid."""
    problems: list[str] = []
    per_day: dict[int, list[tuple[int, int, BusinessInterval]]] = {}
    for interval in hours:
        label = f"{interval.weekday} {interval.start:%H:%M}-{interval.end:%H:%M}"
        if not 1 <= interval.weekday <= 7:
            problems.append(f"{label}: weekday must be 1 (Monday) to 7 (Sunday)")
            continue
        if interval.start.tzinfo is not None or interval.end.tzinfo is not None:
            problems.append(f"{label}: times are local wall times and carry no timezone")
            continue
        start, end = _span(interval)
        if start >= end:
            problems.append(f"{label}: start must be before end (00:00 as end means midnight)")
            continue
        per_day.setdefault(interval.weekday, []).append((start, end, interval))
    for weekday in sorted(per_day):
        spans = sorted(per_day[weekday], key=lambda item: (item[0], item[1]))
        reach, widest = spans[0][1], spans[0][2]
        for start, end, current in spans[1:]:
            if start < reach:
                problems.append(
                    f"weekday {weekday}: {widest.start:%H:%M}-{widest.end:%H:%M} overlaps "
                    f"{current.start:%H:%M}-{current.end:%H:%M}"
                )
            if end > reach:
                reach, widest = end, current
    return problems


def validate_calendar(calendar: Calendar) -> list[str]:
    """Problems with a calendar (unknown timezone, bad hours); empty when valid."""
    problems: list[str] = []
    try:
        ZoneInfo(calendar.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"unknown timezone {calendar.timezone!r}")
    problems.extend(validate_business_hours(calendar.hours))
    return problems


@dataclass(frozen=True, slots=True)
class _Table:
    """Business windows [starts[i], ends[i]) in UTC microseconds, sorted and disjoint, over [lo, hi).

    ``before[i]`` and ``after[i]`` are the business microseconds counted from the schedule's fixed anchor
    up to the start and the end of window i, so that values from any table of one schedule agree.
    """

    lo: int
    hi: int
    first_year: int
    last_year: int
    base: int
    starts: list[int]
    ends: list[int]
    before: list[int]
    after: list[int]


class Schedule:
    """A compiled calendar: the cumulative business-time function F and its inverse, in UTC microseconds.

    ``cumulative(t)`` is F(t), the business time from a fixed anchor to instant t (may be negative);
    ``between(a, b)`` is F(b) - F(a); ``advance(a, d)`` is the first instant t with F(t) >= F(a) + d.
    Tables are immutable snapshots, replaced whole under a lock when they grow, so readers need no lock.
    """

    def __init__(self, calendar: Calendar) -> None:
        self.zone = ZoneInfo(calendar.timezone)
        self.holidays = calendar.holidays
        weekly: dict[int, list[tuple[int, int]]] = {day: [] for day in range(1, 8)}
        intervals = calendar.hours or tuple(BusinessInterval(day, time(0), time(0)) for day in range(1, 8))
        for interval in intervals:
            if 1 <= interval.weekday <= 7 and interval.start.tzinfo is None and interval.end.tzinfo is None:
                start, end = _span(interval)
                if start < end:
                    weekly[interval.weekday].append((start, end))
        self.weekly = {day: _merge(sorted(spans)) for day, spans in weekly.items()}
        self.always = not calendar.hours and not calendar.holidays
        self.empty = not any(self.weekly.values())
        self._lock = threading.Lock()
        self._table: _Table | None = None

    # -- the table ----------------------------------------------------------------------------------------

    def _local_to_us(self, naive: datetime) -> int:
        offset = self.zone.utcoffset(naive)  # fold=0: the offset before a gap or an overlap
        assert offset is not None
        delta = naive - _EPOCH_NAIVE - offset
        return (delta.days * 86_400 + delta.seconds) * US_PER_SECOND + delta.microseconds

    def _offset_us(self, ordinal: int) -> int:
        """UTC offset at local midnight starting the day with this proleptic ordinal."""
        offset = self.zone.utcoffset(datetime.fromordinal(ordinal))
        assert offset is not None
        return (offset.days * 86_400 + offset.seconds) * US_PER_SECOND + offset.microseconds

    def _build(self, first_year: int, last_year: int, anchor: tuple[int, int] | None) -> _Table:
        lo = self._local_to_us(datetime(first_year, 1, 1))
        hi = self._local_to_us(datetime(last_year + 1, 1, 1))
        raw: list[tuple[int, int]] = []
        ordinal = date(first_year, 1, 1).toordinal()
        stop = date(last_year + 1, 1, 1).toordinal()
        weekday = date.fromordinal(ordinal).isoweekday()
        holidays = {day.toordinal() for day in self.holidays}
        offset_next = self._offset_us(ordinal)
        while ordinal < stop:
            # one offset lookup a day: when midnight and the next midnight share an offset, the day has no
            # DST change; otherwise each boundary is converted on its own
            offset, offset_next = offset_next, self._offset_us(ordinal + 1)
            spans = self.weekly[weekday]
            if spans and ordinal not in holidays:
                midnight = (ordinal - _EPOCH_ORDINAL) * US_PER_DAY
                for start, end in spans:
                    if offset == offset_next:
                        window_start = midnight + start - offset
                        window_end = midnight + end - offset
                    else:
                        day = datetime.fromordinal(ordinal)
                        window_start = self._local_to_us(day + timedelta(microseconds=start))
                        window_end = self._local_to_us(day + timedelta(microseconds=end))
                    if window_start < window_end:
                        raw.append((max(window_start, lo), min(window_end, hi)))
            ordinal += 1
            weekday = weekday % 7 + 1
        starts: list[int] = []
        ends: list[int] = []
        for start, end in _merge(sorted(raw)):
            if start < end:
                starts.append(start)
                ends.append(end)
        before: list[int] = []
        after: list[int] = []
        total = 0
        for start, end in zip(starts, ends, strict=True):
            before.append(total)
            total += end - start
            after.append(total)
        table = _Table(lo, hi, first_year, last_year, 0, starts, ends, before, after)
        if anchor is None:
            return table
        # keep F(anchor instant) where it was, so that values from older tables stay comparable
        shift = _cumulative(table, anchor[0]) - anchor[1]
        before = [value - shift for value in before]
        after = [value - shift for value in after]
        return _Table(lo, hi, first_year, last_year, -shift, starts, ends, before, after)

    def _cover(self, lo_us: int, hi_us: int) -> _Table:
        """A table whose span contains both instants (grown, and swapped in, when needed)."""
        table = self._table
        if table is not None and table.lo <= lo_us and hi_us < table.hi:
            return table
        with self._lock:
            table = self._table
            if table is not None and table.lo <= lo_us and hi_us < table.hi:
                return table
            first = _year_of(lo_us - US_PER_DAY)  # a UTC offset is under a day
            last = _year_of(hi_us + US_PER_DAY)
            anchor = None
            if table is not None:
                # grow by at least two years on the side that needs it, so growth is rare
                first = min(first, table.first_year - 2) if first < table.first_year else table.first_year
                last = max(last, table.last_year + 2) if last > table.last_year else table.last_year
                anchor = (table.lo, table.base)
            if first < _MIN_YEAR or last > _MAX_YEAR:
                raise ValueError("instant out of the supported range of years")
            table = self._build(first, last, anchor)
            self._table = table
            return table

    # -- F and its inverse --------------------------------------------------------------------------------

    def cumulative(self, instant_us: int) -> int:
        if self.always:
            return instant_us
        return _cumulative(self._cover(instant_us, instant_us), instant_us)

    def between(self, start_us: int, end_us: int) -> int:
        """Business microseconds in [start, end); 0 when end <= start."""
        if end_us <= start_us:
            return 0
        if self.always:
            return end_us - start_us
        table = self._cover(start_us, end_us)
        return _cumulative(table, end_us) - _cumulative(table, start_us)

    def advance(self, start_us: int, amount_us: int) -> int:
        """The earliest instant at or after ``start`` by which ``amount`` business microseconds passed."""
        if amount_us <= 0:
            return start_us
        if self.always:
            return start_us + amount_us
        if self.empty:
            raise ValueError("the calendar has no business hours")
        table = self._cover(start_us, start_us)
        goal = _cumulative(table, start_us) + amount_us
        horizon = table.hi
        while not table.after or table.after[-1] < goal:
            # grow forward, doubling the span each time (holidays are finite, so this ends)
            horizon += max(horizon - table.lo, 2 * 366 * US_PER_DAY)
            table = self._cover(start_us, horizon)
        index = bisect_left(table.after, goal)
        return table.starts[index] + (goal - table.before[index])


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of sorted spans; touching spans join (22:00-24:00 then 00:00-06:00 make one window)."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _cumulative(table: _Table, instant_us: int) -> int:
    index = bisect_right(table.starts, instant_us) - 1
    if index < 0:
        return table.base
    return table.before[index] + min(instant_us, table.ends[index]) - table.starts[index]


def _year_of(instant_us: int) -> int:
    days = instant_us // US_PER_DAY
    return date.fromordinal(_EPOCH_ORDINAL + max(-719_162, min(days, 2_932_000))).year


@lru_cache(maxsize=256)
def schedule_for(calendar: Calendar) -> Schedule:
    """The compiled schedule of a calendar, built once per distinct calendar."""
    return Schedule(calendar)


def business_time_between(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    """Business time in [start, end) under the calendar, exact to the microsecond; zero if end <= start."""
    return timedelta(microseconds=schedule_for(calendar).between(to_us(start), to_us(end)))


def business_minutes_between(calendar: Calendar, start: datetime, end: datetime) -> float:
    """Business minutes in [start, end), fractional; zero if end <= start."""
    return schedule_for(calendar).between(to_us(start), to_us(end)) / US_PER_MINUTE


def add_business_time(calendar: Calendar, start: datetime, minutes: int | timedelta) -> datetime:
    """The earliest UTC instant at or after ``start`` by which ``minutes`` of business time have passed.

    Inverse of :func:`business_time_between`: ``business_time_between(c, s, add_business_time(c, s, m))``
    is exactly ``m``. Raises ValueError for a calendar with no business hours at all.
    """
    amount = minutes if isinstance(minutes, timedelta) else timedelta(minutes=minutes)
    amount_us = (amount.days * 86_400 + amount.seconds) * US_PER_SECOND + amount.microseconds
    return from_us(schedule_for(calendar).advance(to_us(start), amount_us))
