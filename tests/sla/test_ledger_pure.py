"""The pure parts around the clock: ledger entries of a change, alert bookkeeping, wall-time parsing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from domain.incidents.enums import HoldReason, IncidentEventKind, IncidentStatus, Priority
from domain.sla.calendar import Calendar
from domain.sla.clock import Contract, HistoryEntry, HistoryKind, Target, sla_clocks
from domain.sla.ledger import ClockFacts, Entry, transition_entries
from domain.sla.outcome import ClockName, Noted, alerts_due, next_due, with_alerts
from domain.sla.store import format_wall_time, parse_wall_time

S = IncidentStatus
K = HistoryKind
P1, P2, P3 = Priority.P1, Priority.P2, Priority.P3
CUSTOMER, VENDOR = HoldReason.AWAITING_CUSTOMER, HoldReason.AWAITING_VENDOR


def facts(
    status: IncidentStatus, responded: bool = False, hold: HoldReason | None = None, priority: Priority = P3
) -> ClockFacts:
    return ClockFacts(status, responded, hold, priority)


# fmt: off
CASES = [
    ("report", None, facts(S.NEW), [Entry(K.START, priority=P3)]),
    ("report at P1", None, facts(S.NEW, priority=P1), [Entry(K.START, priority=P1)]),
    ("acknowledge", facts(S.NEW), facts(S.IN_PROGRESS, True), [Entry(K.RESPOND)]),
    ("comment while new changes nothing", facts(S.NEW), facts(S.NEW), []),
    ("hold", facts(S.IN_PROGRESS, True), facts(S.ON_HOLD, True, CUSTOMER), [Entry(K.HOLD, hold_reason=CUSTOMER)]),
    ("hold reason changes", facts(S.ON_HOLD, True, CUSTOMER), facts(S.ON_HOLD, True, VENDOR),
     [Entry(K.HOLD, hold_reason=VENDOR)]),
    ("resume", facts(S.ON_HOLD, True, CUSTOMER), facts(S.IN_PROGRESS, True), [Entry(K.RESUME)]),
    ("resolve", facts(S.IN_PROGRESS, True), facts(S.RESOLVED, True), [Entry(K.RESOLVE)]),
    ("resolve a new incident answers it", facts(S.NEW), facts(S.RESOLVED, True), [Entry(K.RESPOND), Entry(K.RESOLVE)]),
    ("resolve from hold", facts(S.ON_HOLD, True, VENDOR), facts(S.RESOLVED, True), [Entry(K.RESOLVE)]),
    ("reopen", facts(S.RESOLVED, True), facts(S.IN_PROGRESS, True), [Entry(K.REOPEN)]),
    ("close", facts(S.RESOLVED, True), facts(S.CLOSED, True), [Entry(K.CLOSE)]),
    ("cancel", facts(S.IN_PROGRESS, True), facts(S.CANCELLED, True), [Entry(K.CANCEL)]),
    ("cancel from hold", facts(S.ON_HOLD, True, CUSTOMER), facts(S.CANCELLED, True), [Entry(K.CANCEL)]),
    ("priority change", facts(S.IN_PROGRESS, True, priority=P3), facts(S.IN_PROGRESS, True, priority=P1),
     [Entry(K.PRIORITY, priority=P1)]),
    ("priority change with a step", facts(S.NEW, priority=P3), facts(S.IN_PROGRESS, True, priority=P2),
     [Entry(K.PRIORITY, priority=P2), Entry(K.RESPOND)]),
    ("assignment changes nothing", facts(S.IN_PROGRESS, True), facts(S.IN_PROGRESS, True), []),
    ("rating a closed incident changes nothing", facts(S.CLOSED, True), facts(S.CLOSED, True), []),
]
# fmt: on


@pytest.mark.parametrize(("name", "before", "after", "expected"), CASES, ids=[c[0] for c in CASES])
def test_transition_entries(
    name: str, before: ClockFacts | None, after: ClockFacts, expected: list[Entry]
) -> None:
    assert transition_entries(before, after) == expected


def test_every_ledger_kind_is_produced_by_some_change() -> None:
    produced = {entry.kind for _, before, after, _ in CASES for entry in transition_entries(before, after)}
    assert produced == set(HistoryKind)


T0 = datetime(2026, 3, 10, 9, tzinfo=UTC)
CONTRACT = Contract(Calendar("UTC"), {P1: Target(30, 240), P3: Target(240, 1440)}, frozenset({CUSTOMER}), 50)


def readings(history: list[HistoryEntry], now: datetime):  # type: ignore[no-untyped-def]
    return sla_clocks(CONTRACT, history, now)


def test_alerts_come_due_at_their_crossings_once_each() -> None:
    history = [HistoryEntry(T0, K.START, priority=P1)]
    response, resolution = readings(history, T0 + timedelta(minutes=10))
    # 24x7, P1: response at risk at 15 min, breached just after 30; resolution at risk at 120 min.
    assert next_due(response, resolution, Noted()) == T0 + timedelta(minutes=15)
    assert alerts_due(response, resolution, Noted(), T0 + timedelta(minutes=10)) == []
    later = T0 + timedelta(minutes=31)
    response, resolution = readings(history, later)
    due = alerts_due(response, resolution, Noted(), later)
    assert [(a.clock, a.kind) for a in due] == [
        (ClockName.RESPONSE, IncidentEventKind.SLA_AT_RISK),
        (ClockName.RESPONSE, IncidentEventKind.SLA_BREACHED),
    ]
    assert due[0].at == T0 + timedelta(minutes=15)
    noted = with_alerts(Noted(), due)
    assert noted == Noted(response_at_risk=True, response_breached=True)
    assert alerts_due(response, resolution, noted, later) == []
    assert next_due(response, resolution, noted) == T0 + timedelta(minutes=120)


def test_a_pause_moves_nothing_due_and_a_stop_leaves_only_past_crossings() -> None:
    held = [
        HistoryEntry(T0, K.START, priority=P1),
        HistoryEntry(T0 + timedelta(minutes=5), K.RESPOND),
        HistoryEntry(T0 + timedelta(minutes=20), K.HOLD, hold_reason=CUSTOMER),
    ]
    response, resolution = readings(held, T0 + timedelta(hours=10))
    # response met at 5 minutes (never at risk); resolution paused at 20 minutes: nothing projected
    assert next_due(response, resolution, Noted()) is None
    resumed = [*held, HistoryEntry(T0 + timedelta(hours=10), K.RESUME)]
    response, resolution = readings(resumed, T0 + timedelta(hours=10))
    assert next_due(response, resolution, Noted()) == T0 + timedelta(hours=10, minutes=100)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00", time(9)),
        ("17:30", time(17, 30)),
        ("00:00", time(0)),
        ("24:00", time(0)),
        ("23:59", time(23, 59)),
    ],
)
def test_wall_times_parse(text: str, expected: time) -> None:
    assert parse_wall_time(text) == expected


@pytest.mark.parametrize("text", ["9:00", "24:01", "25:00", "12:60", "noon", "", "12-30", "1230", "١٢:٣٠"])
def test_malformed_wall_times_do_not_parse(text: str) -> None:
    assert parse_wall_time(text) is None


def test_midnight_reads_back_as_24_00_only_as_an_end() -> None:
    assert format_wall_time(time(0)) == "00:00"
    assert format_wall_time(time(0), end=True) == "24:00"
    assert format_wall_time(time(17, 30), end=True) == "17:30"
