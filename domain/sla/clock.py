"""SLA clocks as a pure function of (contract, status history, now).

Both clocks start at the first START. The response clock stops at the first RESPOND; the resolution clock
stops at RESOLVE, resumes at REOPEN and stops for good at CLOSE or CANCEL. Time counts only inside the
contract calendar's business time (see :mod:`domain.sla.calendar`) and not while the incident is on hold
for a reason in ``pause_on``; a hold for any other reason changes nothing. A PRIORITY entry re-targets from
the original start: the target of the priority in force at ``now`` applies to all the time counted, and
paused time stays uncounted. Arithmetic is exact, in microseconds; readings expose whole minutes.

Decisions beyond the rules above, so callers can rely on them:

- Entries are sorted by ``at`` (stably, so ties keep their given order); entries after ``now``, entries
  before the first START and a second START are ignored; nothing after CLOSE or CANCEL counts.
- RESOLVE or CLOSE without an earlier RESPOND stops the response clock too (resolving answers the
  customer); a REOPEN does not restart it. RESOLVE also ends a hold, since a reopened incident is worked.
- CANCEL stops every clock still running, and such a clock reads ``cancelled=True`` with ``stopped=True``:
  it counts as neither met nor breached, so compliance figures must leave it out. Its ``state`` and
  ``breached`` still tell how it stood (MET or BREACHED against the target) when cancelled. A clock already
  stopped before the cancel (say, the response clock after RESPOND) keeps its result and ``cancelled=False``.
- Outside business hours a clock is RUNNING, not PAUSED; it simply accrues nothing. PAUSED is only for a
  hold whose reason is in ``pause_on``.
- No reading (None) without a START, or when no priority is known or the contract has no target for it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter

from domain.incidents.enums import HoldReason, Priority
from domain.sla.calendar import (
    EPOCH,
    US_PER_MINUTE,
    Calendar,
    Schedule,
    from_us,
    schedule_for,
    to_us,
)

_ONE_US = timedelta(microseconds=1)


class HistoryKind(enum.StrEnum):
    START = "START"  # reported; carries the priority
    RESPOND = "RESPOND"  # first response: stops the response clock
    HOLD = "HOLD"  # carries the hold reason
    RESUME = "RESUME"
    RESOLVE = "RESOLVE"  # stops the resolution clock
    REOPEN = "REOPEN"  # the resolution clock resumes where it stopped
    CLOSE = "CLOSE"  # terminal
    CANCEL = "CANCEL"  # terminal; running clocks stop as neither met nor breached
    PRIORITY = "PRIORITY"  # carries the new priority; re-targets from the original start


class ClockState(enum.StrEnum):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    MET = "MET"
    BREACHED = "BREACHED"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime  # aware; any zone, compared as an instant
    kind: HistoryKind
    priority: Priority | None = None
    hold_reason: HoldReason | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError(f"naive datetime {self.at!r}: history instants must be aware")


@dataclass(frozen=True, slots=True)
class Target:
    response_minutes: int
    resolution_minutes: int


@dataclass(frozen=True, slots=True)
class Contract:
    calendar: Calendar
    targets: Mapping[Priority, Target]
    pause_on: frozenset[HoldReason] = field(default_factory=frozenset)
    at_risk_percent: int = 75

    def __post_init__(self) -> None:
        object.__setattr__(self, "pause_on", frozenset(self.pause_on))


@dataclass(frozen=True, slots=True)
class ClockReading:
    """One clock at one instant. Instants are UTC.

    - ``elapsed`` is the exact business time counted; ``elapsed_minutes`` its whole minutes (floor).
    - ``remaining_minutes`` is the floor of (target - elapsed) in minutes, so it is negative exactly when
      ``breached`` (elapsed > target).
    - ``due_at``: when elapsed reaches the target if the clock keeps running (in the past once breached);
      None while paused or stopped.
    - ``at_risk``: elapsed >= ``at_risk_percent`` of the target and the clock not stopped.
    - ``at_risk_at`` / ``breached_at``: the first instant at which elapsed reaches the at-risk threshold /
      exceeds the target (one microsecond past it in business time): in the past when it happened,
      projected while running, else None. A scanner can sleep until the earliest of them.
    - ``stopped``: by RESPOND (response), RESOLVE, CLOSE or CANCEL; ``cancelled``: stopped by CANCEL, to be
      counted as neither met nor breached.
    - ``priority``: the priority whose target applies (the one in force at ``now``).
    """

    priority: Priority
    target_minutes: int
    elapsed_minutes: int
    remaining_minutes: int
    due_at: datetime | None
    state: ClockState
    at_risk: bool
    breached: bool
    at_risk_at: datetime | None
    breached_at: datetime | None
    stopped: bool
    cancelled: bool
    elapsed: timedelta


@dataclass(slots=True)
class _Run:
    """The spans [start, end) during which one clock accrued, and how it stands at ``now``."""

    segments: list[tuple[int, int]]
    running: bool = False
    paused: bool = False
    stopped: bool = False
    cancelled: bool = False


@dataclass(slots=True)
class _Walk:
    start_us: int
    now_us: int
    priority: Priority | None
    response: _Run
    resolution: _Run


def _walk(history: Iterable[HistoryEntry], now: datetime, pause_on: frozenset[HoldReason]) -> _Walk | None:
    """One pass over the sorted history, splitting time into the accrual spans of both clocks."""
    now_us = to_us(now)
    entries = sorted(
        ((at_us, entry) for entry in history if (at_us := (entry.at - EPOCH) // _ONE_US) <= now_us),
        key=itemgetter(0),
    )
    position = next((i for i, (_, entry) in enumerate(entries) if entry.kind is HistoryKind.START), -1)
    if position < 0:
        return None
    start_us, start = entries[position]
    priority = start.priority
    paused = responded = resolved = False
    response_cancelled = resolution_cancelled = False
    response_open: int | None = start_us
    resolution_open: int | None = start_us
    response_segments: list[tuple[int, int]] = []
    resolution_segments: list[tuple[int, int]] = []
    terminal = False
    for at_us, entry in entries[position + 1 :]:
        kind = entry.kind
        if kind is HistoryKind.PRIORITY:
            if entry.priority is not None:
                priority = entry.priority
            continue
        if kind is HistoryKind.HOLD:
            paused = entry.hold_reason in pause_on
        elif kind is HistoryKind.RESUME:
            paused = False
        elif kind is HistoryKind.RESPOND:
            responded = True
        elif kind is HistoryKind.RESOLVE:
            responded = resolved = True
            paused = False
        elif kind is HistoryKind.REOPEN:
            resolved = False
        elif kind is HistoryKind.CLOSE:
            responded = resolved = terminal = True
        elif kind is HistoryKind.CANCEL:
            response_cancelled = not responded
            resolution_cancelled = not resolved
            responded = resolved = terminal = True
        else:  # a second START
            continue
        if response_open is not None and (paused or responded):
            if at_us > response_open:
                response_segments.append((response_open, at_us))
            response_open = None
        elif response_open is None and not (paused or responded):
            response_open = at_us
        if resolution_open is not None and (paused or resolved):
            if at_us > resolution_open:
                resolution_segments.append((resolution_open, at_us))
            resolution_open = None
        elif resolution_open is None and not (paused or resolved):
            resolution_open = at_us
        if terminal:
            break
    if response_open is not None and now_us > response_open:
        response_segments.append((response_open, now_us))
    if resolution_open is not None and now_us > resolution_open:
        resolution_segments.append((resolution_open, now_us))
    response = _Run(
        response_segments,
        running=response_open is not None,
        paused=paused and not responded,
        stopped=responded,
        cancelled=response_cancelled,
    )
    resolution = _Run(
        resolution_segments,
        running=resolution_open is not None,
        paused=paused and not resolved,
        stopped=resolved,
        cancelled=resolution_cancelled,
    )
    return _Walk(start_us, now_us, priority, response, resolution)


def _crossing(
    schedule: Schedule, walk: _Walk, run: _Run, parts: list[int], elapsed_us: int, threshold_us: int
) -> int | None:
    """The first instant at which the clock's elapsed time reached ``threshold_us``: in the past when it
    already has, projected from now when the clock runs, else None."""
    if threshold_us <= 0:
        return walk.start_us
    try:
        if elapsed_us >= threshold_us:
            counted = 0
            for (start, _), part in zip(run.segments, parts, strict=True):
                if counted + part >= threshold_us:
                    return schedule.advance(start, threshold_us - counted)
                counted += part
        elif run.running:
            return schedule.advance(walk.now_us, threshold_us - elapsed_us)
    except ValueError:  # no business time ahead within the supported range
        return None
    return None


def _reading(contract: Contract, walk: _Walk, run: _Run, target_minutes: int) -> ClockReading:
    assert walk.priority is not None
    schedule = schedule_for(contract.calendar)
    parts = [schedule.between(start, end) for start, end in run.segments]
    elapsed_us = sum(parts)
    target_us = target_minutes * US_PER_MINUTE
    percent = contract.at_risk_percent
    breached = elapsed_us > target_us
    if run.stopped:
        state = ClockState.BREACHED if breached else ClockState.MET
    elif breached:
        state = ClockState.BREACHED
    elif run.paused:
        state = ClockState.PAUSED
    else:
        state = ClockState.RUNNING
    due_us = _crossing(schedule, walk, run, parts, elapsed_us, target_us) if run.running else None
    at_risk_us = _crossing(schedule, walk, run, parts, elapsed_us, -(-percent * target_us // 100))
    breached_us = _crossing(schedule, walk, run, parts, elapsed_us, target_us + 1)
    return ClockReading(
        priority=walk.priority,
        target_minutes=target_minutes,
        elapsed_minutes=elapsed_us // US_PER_MINUTE,
        remaining_minutes=(target_us - elapsed_us) // US_PER_MINUTE,
        due_at=None if due_us is None else from_us(due_us),
        state=state,
        at_risk=not run.stopped and elapsed_us * 100 >= percent * target_us,
        breached=breached,
        at_risk_at=None if at_risk_us is None else from_us(at_risk_us),
        breached_at=None if breached_us is None else from_us(breached_us),
        stopped=run.stopped,
        cancelled=run.cancelled,
        elapsed=timedelta(microseconds=elapsed_us),
    )


def sla_clocks(
    contract: Contract, history: Iterable[HistoryEntry], now: datetime
) -> tuple[ClockReading | None, ClockReading | None]:
    """(response, resolution) readings at ``now`` from one pass over the history."""
    walk = _walk(history, now, contract.pause_on)
    if walk is None or walk.priority is None:
        return None, None
    target = contract.targets.get(walk.priority)
    if target is None:
        return None, None
    return (
        _reading(contract, walk, walk.response, target.response_minutes),
        _reading(contract, walk, walk.resolution, target.resolution_minutes),
    )


def response_clock(contract: Contract, history: Iterable[HistoryEntry], now: datetime) -> ClockReading | None:
    """The response clock at ``now``; None without a START or a target for the priority."""
    walk = _walk(history, now, contract.pause_on)
    if walk is None or walk.priority is None:
        return None
    target = contract.targets.get(walk.priority)
    return None if target is None else _reading(contract, walk, walk.response, target.response_minutes)


def resolution_clock(
    contract: Contract, history: Iterable[HistoryEntry], now: datetime
) -> ClockReading | None:
    """The resolution clock at ``now``; None without a START or a target for the priority."""
    walk = _walk(history, now, contract.pause_on)
    if walk is None or walk.priority is None:
        return None
    target = contract.targets.get(walk.priority)
    return None if target is None else _reading(contract, walk, walk.resolution, target.resolution_minutes)
