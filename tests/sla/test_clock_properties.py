"""Properties of the SLA clock arithmetic, checked on generated calendars and histories."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.incidents.enums import HoldReason, Priority
from domain.sla.calendar import (
    BusinessInterval,
    Calendar,
    add_business_time,
    business_minutes_between,
    business_time_between,
    validate_business_hours,
)
from domain.sla.clock import (
    ClockReading,
    ClockState,
    Contract,
    HistoryEntry,
    HistoryKind,
    Target,
    resolution_clock,
    response_clock,
    sla_clocks,
)

MODEST = settings(max_examples=200, deadline=None)
US = timedelta(microseconds=1)
ZERO = timedelta(0)

TARGETS = {
    Priority.P1: Target(30, 240),
    Priority.P2: Target(60, 480),
    Priority.P3: Target(240, 1440),
    Priority.P4: Target(480, 2400),
}
PAUSING = frozenset({HoldReason.AWAITING_CUSTOMER, HoldReason.AWAITING_VENDOR})
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # half-hour DST shift
    "Asia/Kolkata",
    "America/Santiago",  # DST changes at midnight
    "UTC",
]


def _weekdays(start: time, end: time, days: range = range(1, 6)) -> tuple[BusinessInterval, ...]:
    return tuple(BusinessInterval(day, start, end) for day in days)


FIXED_CALENDARS = [
    Calendar(
        "Europe/Berlin", _weekdays(time(9), time(17)), frozenset({date(2026, 4, 6), date(2026, 12, 25)})
    ),
    Calendar("America/New_York", _weekdays(time(9), time(17), range(1, 8))),
    Calendar("Europe/Berlin", _weekdays(time(8), time(12)) + _weekdays(time(13), time(17))),
    Calendar("Europe/Berlin", _weekdays(time(22), time(0)) + _weekdays(time(0), time(6), range(2, 7))),
    Calendar("Europe/Berlin"),
    Calendar("America/New_York", (), frozenset({date(2026, 11, 26)})),
    Calendar("Australia/Lord_Howe", _weekdays(time(0), time(4), range(1, 8))),
]


@st.composite
def generated_calendars(draw: st.DrawFn) -> Calendar:
    # one or two day patterns of up to 3 disjoint intervals on 15-minute marks (96 marks a day, the last
    # meaning 24:00), spread over a random set of weekdays
    patterns = draw(st.lists(st.sets(st.integers(0, 96), max_size=6), min_size=1, max_size=2))
    intervals: list[BusinessInterval] = []
    for day in sorted(draw(st.sets(st.integers(1, 7), min_size=1))):
        marks = sorted(patterns[day % len(patterns)])
        for first, last in zip(marks[::2], marks[1::2], strict=False):
            start = time(first // 4, first % 4 * 15)
            end = time(0) if last == 96 else time(last // 4, last % 4 * 15)
            intervals.append(BusinessInterval(day, start, end))
    holidays = draw(st.frozensets(st.dates(date(2025, 1, 1), date(2028, 12, 31)), max_size=20))
    return Calendar(draw(st.sampled_from(ZONES)), tuple(intervals), holidays)


calendars = st.one_of(st.sampled_from(FIXED_CALENDARS), generated_calendars())
instants = st.datetimes(datetime(2025, 1, 1), datetime(2028, 6, 30), timezones=st.just(UTC))
spans = st.timedeltas(ZERO, timedelta(days=40))
priorities = st.sampled_from([Priority.P1, Priority.P2, Priority.P3, Priority.P4])
hold_reasons = st.sampled_from(list(HoldReason))
non_hold_kinds = st.sampled_from(
    [HistoryKind.RESPOND, HistoryKind.RESOLVE, HistoryKind.REOPEN, HistoryKind.PRIORITY, HistoryKind.CLOSE]
)


@st.composite
def histories(draw: st.DrawFn, *, holds: bool = True, priority_changes: bool = True) -> list[HistoryEntry]:
    """A START and up to 14 later entries (holds and resumes, responses, resolutions, ...), unsorted."""
    started = draw(instants)
    entries = [HistoryEntry(started, HistoryKind.START, priority=draw(priorities))]
    kinds = list(HistoryKind)
    if not holds:
        kinds = [kind for kind in kinds if kind not in (HistoryKind.HOLD, HistoryKind.RESUME)]
    if not priority_changes:
        kinds.remove(HistoryKind.PRIORITY)
    for _ in range(draw(st.integers(0, 14))):
        kind = draw(st.sampled_from(kinds))
        when = started + draw(spans)
        if kind is HistoryKind.HOLD:
            entries.append(HistoryEntry(when, kind, hold_reason=draw(hold_reasons)))
        elif kind in (HistoryKind.PRIORITY, HistoryKind.START):  # a second START is ignored
            entries.append(HistoryEntry(when, kind, priority=draw(priorities)))
        else:
            entries.append(HistoryEntry(when, kind))
    return draw(st.permutations(entries))


def contract(calendar: Calendar, percent: int = 75) -> Contract:
    return Contract(calendar, TARGETS, PAUSING, percent)


def both(contract: Contract, history: list[HistoryEntry], now: datetime) -> list[ClockReading]:
    readings = [response_clock(contract, history, now), resolution_clock(contract, history, now)]
    return [reading for reading in readings if reading is not None]


def started_at(history: list[HistoryEntry]) -> datetime:
    return min(entry.at for entry in history if entry.kind is HistoryKind.START)


# -- business time ---------------------------------------------------------------------------------------


@MODEST
@given(calendars, instants, spans, spans)
def test_business_time_is_additive(calendar: Calendar, a: datetime, ab: timedelta, bc: timedelta) -> None:
    b, c = a + ab, a + ab + bc
    whole = business_time_between(calendar, a, c)
    assert whole == business_time_between(calendar, a, b) + business_time_between(calendar, b, c)
    assert ZERO <= whole <= c - a
    assert business_minutes_between(calendar, a, c) == whole / timedelta(minutes=1)


@MODEST
@given(calendars, instants, st.integers(0, 60 * 24 * 30))
def test_adding_business_time_inverts_measuring_it(calendar: Calendar, start: datetime, minutes: int) -> None:
    due = add_business_time(calendar, start, minutes)
    assert due >= start
    assert business_time_between(calendar, start, due) == timedelta(minutes=minutes)
    # and it is the earliest such instant: a microsecond earlier falls short
    if minutes:
        assert business_time_between(calendar, start, due - US) < timedelta(minutes=minutes)


@MODEST
@given(calendars, instants, spans)
def test_measuring_then_adding_lands_at_or_before_the_end(
    calendar: Calendar, start: datetime, span: timedelta
) -> None:
    end = start + span
    measured = business_time_between(calendar, start, end)
    landed = add_business_time(calendar, start, measured)
    assert start <= landed <= end
    assert business_time_between(calendar, landed, end) == ZERO


def test_generated_calendars_are_valid() -> None:
    @settings(max_examples=50, deadline=None)
    @given(generated_calendars())
    def check(calendar: Calendar) -> None:
        assert validate_business_hours(calendar.hours) == []

    check()


# -- clocks ----------------------------------------------------------------------------------------------


@MODEST
@given(calendars, histories(), spans, spans)
def test_elapsed_never_decreases_and_never_exceeds_wall_time(
    calendar: Calendar, history: list[HistoryEntry], first: timedelta, later: timedelta
) -> None:
    earlier_now = started_at(history) + first
    later_now = earlier_now + later
    for clock in (response_clock, resolution_clock):
        before = clock(contract(calendar), history, earlier_now)
        after = clock(contract(calendar), history, later_now)
        if before is None or after is None:
            continue
        assert before.elapsed <= after.elapsed
        assert before.elapsed_minutes <= after.elapsed_minutes
        assert after.elapsed <= later_now - started_at(history)


@MODEST
@given(calendars, histories(holds=False), spans, spans, spans, hold_reasons)
def test_a_pause_never_adds_time(
    calendar: Calendar,
    history: list[HistoryEntry],
    offset: timedelta,
    length: timedelta,
    after: timedelta,
    reason: HoldReason,
) -> None:
    begin = started_at(history)
    held = begin + offset
    paused = [*history, HistoryEntry(held, HistoryKind.HOLD, hold_reason=reason)]
    paused.append(HistoryEntry(held + length, HistoryKind.RESUME))
    now = begin + after
    for plain, with_pause in zip(
        both(contract(calendar), history, now), both(contract(calendar), paused, now), strict=True
    ):
        assert with_pause.elapsed <= plain.elapsed
        if reason not in PAUSING:
            assert with_pause.elapsed == plain.elapsed


@MODEST
@given(calendars, histories(holds=False), spans, st.floats(0, 1), spans)
def test_a_pause_outside_business_time_changes_nothing(
    calendar: Calendar, history: list[HistoryEntry], offset: timedelta, fraction: float, after: timedelta
) -> None:
    begin = started_at(history)
    held = begin + offset
    # the quiet stretch from `held` to the next business instant (empty when `held` is in business time)
    quiet_end = add_business_time(calendar, held, US) - US
    resumed = held + (quiet_end - held) * fraction
    assert business_time_between(calendar, held, resumed) == ZERO
    paused = [
        *history,
        HistoryEntry(held, HistoryKind.HOLD, hold_reason=HoldReason.AWAITING_CUSTOMER),
        HistoryEntry(resumed, HistoryKind.RESUME),
    ]
    now = begin + after
    for plain, with_pause in zip(
        both(contract(calendar), history, now), both(contract(calendar), paused, now), strict=True
    ):
        assert with_pause.elapsed == plain.elapsed


@MODEST
@given(calendars, histories(), spans, st.integers(0, 150))
def test_reading_fields_agree(
    calendar: Calendar, history: list[HistoryEntry], after: timedelta, percent: int
) -> None:
    now = started_at(history) + after
    for reading in both(contract(calendar, percent), history, now):
        target = timedelta(minutes=reading.target_minutes)
        assert reading.elapsed_minutes == reading.elapsed // timedelta(minutes=1)
        assert reading.breached == (reading.elapsed > target)
        assert (reading.remaining_minutes < 0) == reading.breached
        assert reading.at_risk == (not reading.stopped and reading.elapsed * 100 >= target * percent)
        if reading.stopped:
            assert reading.state in (ClockState.MET, ClockState.BREACHED) and reading.due_at is None
        elif reading.breached:
            assert reading.state is ClockState.BREACHED
        else:
            assert reading.state in (ClockState.RUNNING, ClockState.PAUSED)
        assert (reading.state is ClockState.MET) == (reading.stopped and not reading.breached)
        assert reading.cancelled <= reading.stopped
        if reading.due_at is not None:
            assert reading.state in (ClockState.RUNNING, ClockState.BREACHED)
            assert (reading.due_at <= now) == (reading.elapsed >= target)
        if reading.breached:
            assert reading.breached_at is not None and reading.breached_at <= now
        if reading.breached_at is not None and reading.breached_at <= now:
            assert reading.breached


@MODEST
@given(calendars, histories(priority_changes=False), spans)
def test_crossing_instants_are_exact(
    calendar: Calendar, history: list[HistoryEntry], after: timedelta
) -> None:
    """At ``breached_at`` a reading is breached and a microsecond before it is not; likewise at-risk,
    and at ``due_at`` the elapsed time equals the target. Holds for past crossings and projected ones."""
    now = started_at(history) + after
    # only what is known at `now`, so that readings at later instants see the same history
    history = [entry for entry in history if entry.at <= now]
    terms = contract(calendar)
    for pick in (0, 1):
        reading = sla_clocks(terms, history, now)[pick]
        assert reading is not None
        target = timedelta(minutes=reading.target_minutes)
        if reading.breached_at is not None:
            at_crossing = sla_clocks(terms, history, reading.breached_at)[pick]
            just_before = sla_clocks(terms, history, reading.breached_at - US)[pick]
            assert at_crossing is not None and at_crossing.breached
            assert just_before is None or not just_before.breached
        if reading.at_risk_at is not None:
            at_crossing = sla_clocks(terms, history, reading.at_risk_at)[pick]
            assert at_crossing is not None and at_crossing.elapsed * 100 >= target * 75
            just_before = sla_clocks(terms, history, reading.at_risk_at - US)[pick]
            assert just_before is None or just_before.elapsed * 100 < target * 75
        if reading.due_at is not None:
            at_due = sla_clocks(terms, history, reading.due_at)[pick]
            assert at_due is not None and at_due.elapsed == target
