"""Hand-worked SLA clock cases: (contract, history, now) -> elapsed, remaining, due, state.

Every expected value was worked out on paper from the calendar; the comment above each case shows how.
Times are local to the contract's zone unless they say UTC. Targets (response / resolution, minutes):
P1 30/240, P2 60/480, P3 240/1440, P4 480/2400; P5 has none. At risk at 75 % unless a case says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.incidents.enums import HoldReason, Priority
from domain.sla.calendar import (
    BusinessInterval,
    Calendar,
    Schedule,
    add_business_time,
    business_time_between,
    to_us,
    validate_business_hours,
    validate_calendar,
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

BER = "Europe/Berlin"
NYC = "America/New_York"
US = timedelta(microseconds=1)

TARGETS = {
    Priority.P1: Target(30, 240),
    Priority.P2: Target(60, 480),
    Priority.P3: Target(240, 1440),
    Priority.P4: Target(480, 2400),
}
PAUSING = frozenset({HoldReason.AWAITING_CUSTOMER, HoldReason.AWAITING_VENDOR})


def hours(days: range, *spans: tuple[time, time]) -> tuple[BusinessInterval, ...]:
    return tuple(BusinessInterval(day, start, end) for day in days for start, end in spans)


MON_FRI = range(1, 6)
EVERY_DAY = range(1, 8)
NINE_TO_FIVE = (time(9), time(17))
MIDNIGHT = time(0)

OFFICE = Calendar(BER, hours(MON_FRI, NINE_TO_FIVE))
DAILY_BER = Calendar(BER, hours(EVERY_DAY, NINE_TO_FIVE))
DAILY_NYC = Calendar(NYC, hours(EVERY_DAY, NINE_TO_FIVE))
ALWAYS_BER = Calendar(BER)
ALWAYS_NYC = Calendar(NYC)
EASTER = Calendar(BER, hours(MON_FRI, NINE_TO_FIVE), frozenset({date(2026, 4, 3), date(2026, 4, 6)}))
WHIT_MONDAY = Calendar(BER, hours(MON_FRI, NINE_TO_FIVE), frozenset({date(2026, 5, 25)}))
NEW_YEAR = Calendar(BER, hours(MON_FRI, NINE_TO_FIVE), frozenset({date(2027, 1, 1)}))
SPLIT = Calendar(BER, hours(MON_FRI, (time(8), time(12)), (time(13), time(17))))
# night desk: 22:00-24:00 Monday to Friday, continuing 00:00-06:00 Tuesday to Saturday
NIGHTS = Calendar(BER, hours(MON_FRI, (time(22), MIDNIGHT)) + hours(range(2, 7), (MIDNIGHT, time(6))))
# weekend night desk across the spring-forward night: Saturday 22:00-24:00, Sunday 00:00-06:00
WEEKEND_NIGHT = Calendar(
    BER, (BusinessInterval(6, time(22), MIDNIGHT), BusinessInterval(7, MIDNIGHT, time(6)))
)


def contract(calendar: Calendar, *, at_risk_percent: int = 75) -> Contract:
    return Contract(calendar, TARGETS, PAUSING, at_risk_percent)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, tz: str = BER) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz))


def start(when: datetime, priority: Priority = Priority.P2) -> HistoryEntry:
    return HistoryEntry(when, HistoryKind.START, priority=priority)


def hold(when: datetime, reason: HoldReason = HoldReason.AWAITING_CUSTOMER) -> HistoryEntry:
    return HistoryEntry(when, HistoryKind.HOLD, hold_reason=reason)


def event(when: datetime, kind: HistoryKind) -> HistoryEntry:
    return HistoryEntry(when, kind)


def priority(when: datetime, new: Priority) -> HistoryEntry:
    return HistoryEntry(when, HistoryKind.PRIORITY, priority=new)


@dataclass(frozen=True)
class Case:
    name: str
    contract: Contract
    history: tuple[HistoryEntry, ...]
    now: datetime
    clock: str  # "response" or "resolution"
    elapsed: int
    remaining: int
    due: datetime | None
    state: ClockState
    more: dict[str, object] = field(default_factory=dict)


R, S = "response", "resolution"
RESPOND, RESUME, RESOLVE = HistoryKind.RESPOND, HistoryKind.RESUME, HistoryKind.RESOLVE
REOPEN, CLOSE, CANCEL = HistoryKind.REOPEN, HistoryKind.CLOSE, HistoryKind.CANCEL
RUNNING, PAUSED, MET, BREACHED = ClockState.RUNNING, ClockState.PAUSED, ClockState.MET, ClockState.BREACHED

# fmt: off
CASES = [
    # Tue 10:00 -> 11:00 inside office hours: 60 of a 60-minute response target; exactly at the target is
    # not a breach (breach is elapsed > target); due is now; 60 >= 45 so at risk.
    Case("exactly-at-target", contract(OFFICE), (start(at(2026, 3, 10, 10)),), at(2026, 3, 10, 11), R,
         60, 0, at(2026, 3, 10, 11), RUNNING, {"at_risk": True, "breached": False}),
    # Thirty seconds later: 60.5 minutes > 60 -> breached; floors: elapsed 60, remaining -0.5 -> -1.
    Case("half-a-minute-over", contract(OFFICE), (start(at(2026, 3, 10, 10)),),
         at(2026, 3, 10, 11) + timedelta(seconds=30), R,
         60, -1, at(2026, 3, 10, 11), BREACHED, {"breached": True, "breached_at": at(2026, 3, 10, 11) + US}),
    # Fri 16:00 -> Mon 10:00: Fri 16-17 (60) + Mon 9-10 (60) = 120 of 480; 360 left = Mon 10:00-16:00.
    Case("over-a-weekend", contract(OFFICE), (start(at(2026, 3, 13, 16)),), at(2026, 3, 16, 10), S,
         120, 360, at(2026, 3, 16, 16), RUNNING),
    # Reported Saturday noon: nothing counts until Mon 09:00; at 09:30, 30 of 60, due Mon 10:00.
    Case("reported-on-saturday", contract(OFFICE), (start(at(2026, 3, 14, 12)),), at(2026, 3, 16, 9, 30), R,
         30, 30, at(2026, 3, 16, 10), RUNNING, {"at_risk": False, "at_risk_at": at(2026, 3, 16, 9, 45)}),
    # Tue 16:30 -> 20:00: only 16:30-17:00 counts (30); outside hours the clock is RUNNING, not PAUSED;
    # the other 30 minutes come Wed 09:00-09:30.
    Case("evening-is-running-not-paused", contract(OFFICE), (start(at(2026, 3, 10, 16, 30)),),
         at(2026, 3, 10, 20), R, 30, 30, at(2026, 3, 11, 9, 30), RUNNING),
    # Berlin spring-forward Sun 2026-03-29, daily 09:00-17:00: 08:00 -> 18:00 counts 09-17 = 480 as always.
    # P3: 960 left = Mon 30 and Tue 31 09-17, due Tue 17:00.
    Case("berlin-spring-forward-office-hours", contract(DAILY_BER), (start(at(2026, 3, 29, 8), Priority.P3),),
         at(2026, 3, 29, 18), S, 480, 960, at(2026, 3, 31, 17), RUNNING),
    # Berlin fall-back Sun 2026-10-25, daily 09:00-17:00: midnight to midnight still counts 480.
    # P3: 960 left = Mon 09-17 (480) + Tue 09-17 (480), due Tue 17:00.
    Case("berlin-fall-back-office-hours", contract(DAILY_BER), (start(at(2026, 10, 25), Priority.P3),),
         at(2026, 10, 26), S, 480, 960, at(2026, 10, 27, 17), RUNNING),
    # 24x7 over the spring-forward day: local midnight to midnight is 23 real hours = 1380 of 2400 (P4);
    # 1020 left = 17 h after Mon 00:00 (no more changes), due Mon 17:00.
    Case("berlin-spring-forward-24x7", contract(ALWAYS_BER), (start(at(2026, 3, 29), Priority.P4),),
         at(2026, 3, 30), S, 1380, 1020, at(2026, 3, 30, 17), RUNNING),
    # 24x7 over the fall-back day: 25 real hours = 1500; 900 left = Mon 15:00.
    Case("berlin-fall-back-24x7", contract(ALWAYS_BER), (start(at(2026, 10, 25), Priority.P4),),
         at(2026, 10, 26), S, 1500, 900, at(2026, 10, 26, 15), RUNNING),
    # New York spring-forward Sun 2026-03-08, 24x7: 23 h = 1380.
    Case("new-york-spring-forward-24x7", contract(ALWAYS_NYC), (start(at(2026, 3, 8, tz=NYC), Priority.P4),),
         at(2026, 3, 9, tz=NYC), S, 1380, 1020, at(2026, 3, 9, 17, tz=NYC), RUNNING),
    # New York fall-back Sun 2026-11-01, 24x7: 25 h = 1500.
    Case("new-york-fall-back-24x7", contract(ALWAYS_NYC), (start(at(2026, 11, 1, tz=NYC), Priority.P4),),
         at(2026, 11, 2, tz=NYC), S, 1500, 900, at(2026, 11, 2, 15, tz=NYC), RUNNING),
    # New York daily 09-17 across spring-forward: Sat 12-17 (300) + Sun 09-12 (180) = 480 although
    # 23 real hours passed; P2 resolution 480 reached exactly now -> due now, not breached.
    Case("new-york-spring-forward-office-hours", contract(DAILY_NYC), (start(at(2026, 3, 7, 12, tz=NYC)),),
         at(2026, 3, 8, 12, tz=NYC), S, 480, 0, at(2026, 3, 8, 12, tz=NYC), RUNNING),
    # New York daily 09-17 across fall-back: Sat 16-17 (60) + Sun 09-17 (480) + Mon 09-10 (60) = 600;
    # P3 1440 - 600 = 840 = Mon 10-17 (420) + Tue 09-16 (420), due Tue 16:00.
    Case("new-york-fall-back-office-hours", contract(DAILY_NYC),
         (start(at(2026, 10, 31, 16, tz=NYC), Priority.P3),), at(2026, 11, 2, 10, tz=NYC), S,
         600, 840, at(2026, 11, 3, 16, tz=NYC), RUNNING),
    # Good Friday and Easter Monday off: Thu 16-17 (60) + Tue 09-10 (60) = 120; due Tue 16:00.
    Case("easter-holidays", contract(EASTER), (start(at(2026, 4, 2, 16)),), at(2026, 4, 7, 10), S,
         120, 360, at(2026, 4, 7, 16), RUNNING),
    # Whit Monday off: Fri 15-17 (120) + Tue 09-11 (120) = 240; P2 480 -> 240 left, due Tue 15:00.
    Case("holiday-on-a-monday", contract(WHIT_MONDAY), (start(at(2026, 5, 22, 15)),), at(2026, 5, 26, 11), S,
         240, 240, at(2026, 5, 26, 15), RUNNING),
    # Same incident on Monday 12:00 (the holiday): Fri 120 only; 360 left, all on Tuesday: due Tue 15:00.
    Case("on-the-monday-holiday", contract(WHIT_MONDAY), (start(at(2026, 5, 22, 15)),),
         at(2026, 5, 25, 12), S,
         120, 360, at(2026, 5, 26, 15), RUNNING),
    # Thu 09:00 P3, on hold (customer) Fri 12:00 to Tue 11:00: Thu 480 + Fri 09-12 180 + Tue 11-13 120 = 780;
    # 660 left = Tue 13-17 (240) + Wed 09-16 (420): due Wed 16:00.
    Case("pause-over-a-weekend",
         contract(OFFICE),
         (start(at(2026, 3, 12, 9), Priority.P3), hold(at(2026, 3, 13, 12)),
          event(at(2026, 3, 17, 11), RESUME)),
         at(2026, 3, 17, 13), S, 780, 660, at(2026, 3, 18, 16), RUNNING),
    # Same, looked at on Monday noon while still on hold: 480 + 180 = 660, PAUSED, no due date.
    Case("still-on-hold", contract(OFFICE),
         (start(at(2026, 3, 12, 9), Priority.P3), hold(at(2026, 3, 13, 12))),
         at(2026, 3, 16, 12), S, 660, 780, None, PAUSED, {"at_risk": False, "at_risk_at": None}),
    # Hold for AWAITING_CHANGE, which this contract does not pause on: nothing stops. Thu 480 + Fri 480 +
    # Mon 480 + Tue 09-13 240 = 1680 > 1440. 1440 was reached Mon 17:00 (due, in the past); the first
    # instant beyond it is Tue 09:00 plus a microsecond. At risk at 75 % = 1080 = Thu + Fri + 2 h: Mon 11:00.
    Case("hold-reason-that-does-not-pause", contract(OFFICE),
         (start(at(2026, 3, 12, 9), Priority.P3), hold(at(2026, 3, 13, 12), HoldReason.AWAITING_CHANGE),
          event(at(2026, 3, 17, 11), RESUME)),
         at(2026, 3, 17, 13), S, 1680, -240, at(2026, 3, 16, 17), BREACHED,
         {"breached_at": at(2026, 3, 17, 9) + US, "at_risk_at": at(2026, 3, 16, 11)}),
    # A later hold for a pausing reason, without a resume between: 10-11 counts (vendor change hold does
    # not pause), 11-12 does not (customer), 12-13 counts: Mon 09:00 -> 13:00 = 180.
    Case("hold-reason-changes", contract(OFFICE),
         (start(at(2026, 3, 2, 9)), hold(at(2026, 3, 2, 10), HoldReason.AWAITING_CHANGE),
          hold(at(2026, 3, 2, 11)), event(at(2026, 3, 2, 12), RESUME)),
         at(2026, 3, 2, 13), S, 180, 300, at(2026, 3, 3, 10), RUNNING),
    # Resolved Mon 12:00 after 180, reopened a week later Mon 10:00; at 12:00: 180 + 120 = 300, due 15:00.
    Case("reopen-after-a-week", contract(OFFICE),
         (start(at(2026, 3, 2, 9)), event(at(2026, 3, 2, 12), RESOLVE), event(at(2026, 3, 9, 10), REOPEN)),
         at(2026, 3, 9, 12), S, 300, 180, at(2026, 3, 9, 15), RUNNING),
    # Resolved again Mon 14:00: 180 + 240 = 420 <= 480 -> MET, stopped, no due date.
    Case("resolved-again-after-reopen", contract(OFFICE),
         (start(at(2026, 3, 2, 9)), event(at(2026, 3, 2, 12), RESOLVE), event(at(2026, 3, 9, 10), REOPEN),
          event(at(2026, 3, 9, 14), RESOLVE)),
         at(2026, 3, 11), S, 420, 60, None, MET, {"stopped": True, "at_risk": False}),
    # Customer hold Mon 10:00, resolved while on hold Tue 10:00, reopened Wed 09:00: the reopened incident is
    # worked, not held, so Mon 09-10 (60) + Wed 09-11 (120) = 180; 300 left = Wed 11-16: due Wed 16:00.
    Case("reopen-after-resolving-on-hold", contract(OFFICE),
         (start(at(2026, 3, 2, 9)), hold(at(2026, 3, 2, 10)), event(at(2026, 3, 3, 10), RESOLVE),
          event(at(2026, 3, 4, 9), REOPEN)),
         at(2026, 3, 4, 11), S, 180, 300, at(2026, 3, 4, 16), RUNNING),
    # Tue 09:00 as P3, vendor hold Tue 11:00 -> Wed 09:00 (paused), raised to P1 Wed 10:00. The P1 target
    # (240) applies from the start: Tue 09-11 (120) + Wed 09-10:30 (90) = 210; due Wed 11:00; at risk
    # (210 >= 180), crossed at Wed 10:00 when 120 + 60 = 180.
    Case("priority-raised-keeps-pause-excluded", contract(OFFICE),
         (start(at(2026, 3, 3, 9), Priority.P3), hold(at(2026, 3, 3, 11), HoldReason.AWAITING_VENDOR),
          event(at(2026, 3, 4, 9), RESUME), priority(at(2026, 3, 4, 10), Priority.P1)),
         at(2026, 3, 4, 10, 30), S, 210, 30, at(2026, 3, 4, 11), RUNNING,
         {"at_risk": True, "at_risk_at": at(2026, 3, 4, 10), "priority": Priority.P1}),
    # Same at Wed 12:00: 120 + 180 = 300 > 240 -> breached, past due Wed 11:00.
    Case("priority-raised-into-breach", contract(OFFICE),
         (start(at(2026, 3, 3, 9), Priority.P3), hold(at(2026, 3, 3, 11), HoldReason.AWAITING_VENDOR),
          event(at(2026, 3, 4, 9), RESUME), priority(at(2026, 3, 4, 10), Priority.P1)),
         at(2026, 3, 4, 12), S, 300, -60, at(2026, 3, 4, 11), BREACHED,
         {"breached_at": at(2026, 3, 4, 11) + US}),
    # Lowered from P1 to P4 after a breach of the P1 target: 300 of 2400 -> no longer breached; 2100 left
    # = Wed 14-17 (180) + Thu, Fri, Mon, Tue (4 x 480 = 1920): due Tue 2026-03-10 17:00.
    Case("priority-lowered", contract(OFFICE),
         (start(at(2026, 3, 4, 9), Priority.P1), priority(at(2026, 3, 4, 11), Priority.P4)),
         at(2026, 3, 4, 14), S, 300, 2100, at(2026, 3, 10, 17), RUNNING, {"breached": False}),
    # Split shift 08-12 and 13-17: Mon 11:00 -> 12:30 counts 11-12 = 60 of 60 (response): not breached;
    # first instant beyond the target is after lunch, 13:00 plus a microsecond.
    Case("split-shift-lunch", contract(SPLIT), (start(at(2026, 3, 2, 11)),), at(2026, 3, 2, 12, 30), R,
         60, 0, at(2026, 3, 2, 12), RUNNING, {"breached_at": at(2026, 3, 2, 13) + US}),
    # Split shift, resolution at 14:00: 11-12 + 13-14 = 120; 360 left = Mon 14-17 (180) + Tue 08-11 (180).
    Case("split-shift-resolution", contract(SPLIT), (start(at(2026, 3, 2, 11)),), at(2026, 3, 2, 14), S,
         120, 360, at(2026, 3, 3, 11), RUNNING),
    # Night desk: Mon 23:00 -> Tue 01:00 counts 120 across midnight; 360 left = Tue 01-06 (300) +
    # Tue 22:00-23:00 (60): due Tue 23:00.
    Case("midnight-spanning-hours", contract(NIGHTS), (start(at(2026, 3, 2, 23)),), at(2026, 3, 3, 1), S,
         120, 360, at(2026, 3, 3, 23), RUNNING),
    # Saturday night desk over the spring-forward night: 22:00 -> 06:00 on the wall, but 02:00-03:00 does
    # not exist, so 7 real hours = 420. P3 1440 - 420 = 1020 = two ordinary 8-hour weekend nights (960) +
    # 60 on Sat 2026-04-18 22:00-23:00: due then.
    Case("night-hours-over-spring-forward", contract(WEEKEND_NIGHT),
         (start(at(2026, 3, 28, 21), Priority.P3),),
         at(2026, 3, 29, 7), S, 420, 1020, at(2026, 4, 18, 23), RUNNING),
    # Cancelled Mon 11:00 after responding at 09:20: the response clock had stopped already (20 of 60, MET,
    # not cancelled); the resolution clock stops at 120 and reads cancelled, neither met nor breached.
    Case("cancel-after-response: response", contract(OFFICE),
         (start(at(2026, 3, 2, 9)), event(at(2026, 3, 2, 9, 20), RESPOND), event(at(2026, 3, 2, 11), CANCEL)),
         at(2026, 3, 3, 12), R, 20, 40, None, MET, {"cancelled": False, "stopped": True}),
    Case("cancel-after-response: resolution", contract(OFFICE),
         (start(at(2026, 3, 2, 9)), event(at(2026, 3, 2, 9, 20), RESPOND), event(at(2026, 3, 2, 11), CANCEL)),
         at(2026, 3, 3, 12), S, 120, 360, None, MET,
         {"cancelled": True, "stopped": True, "at_risk": False, "breached": False}),
    # P1 cancelled at 10:00 without a response: 60 > 30, so it stands BREACHED, but cancelled: the caller
    # leaves it out of compliance. A REOPEN after the cancel changes nothing.
    Case("cancel-unanswered", contract(OFFICE),
         (start(at(2026, 3, 2, 9), Priority.P1), event(at(2026, 3, 2, 10), CANCEL),
          event(at(2026, 3, 2, 11), REOPEN)),
         at(2026, 3, 2, 12), R, 60, -30, None, BREACHED,
         {"cancelled": True, "breached_at": at(2026, 3, 2, 9, 30) + US}),
    # P1 answered at 09:20 (20 of 30: met), resolved 14:00 (300 of 240: breached by 60, at 13:00).
    Case("response-met: response", contract(OFFICE),
         (start(at(2026, 3, 2, 9), Priority.P1), event(at(2026, 3, 2, 9, 20), RESPOND),
          event(at(2026, 3, 2, 14), RESOLVE)),
         at(2026, 3, 2, 15), R, 20, 10, None, MET, {"breached": False, "breached_at": None}),
    Case("response-met: resolution breached", contract(OFFICE),
         (start(at(2026, 3, 2, 9), Priority.P1), event(at(2026, 3, 2, 9, 20), RESPOND),
          event(at(2026, 3, 2, 14), RESOLVE)),
         at(2026, 3, 2, 15), S, 300, -60, None, BREACHED,
         {"stopped": True, "breached_at": at(2026, 3, 2, 13) + US}),
    # At risk at 75 % of 60 = 45: at 09:44 not yet (crossing projected at 09:45) ...
    Case("at-risk: before", contract(OFFICE), (start(at(2026, 3, 2, 9)),), at(2026, 3, 2, 9, 44), R,
         44, 16, at(2026, 3, 2, 10), RUNNING, {"at_risk": False, "at_risk_at": at(2026, 3, 2, 9, 45)}),
    # ... and at 09:45 exactly it is (elapsed >= threshold).
    Case("at-risk: crossing", contract(OFFICE), (start(at(2026, 3, 2, 9)),), at(2026, 3, 2, 9, 45), R,
         45, 15, at(2026, 3, 2, 10), RUNNING, {"at_risk": True, "at_risk_at": at(2026, 3, 2, 9, 45)}),
    # At risk at 50 % of the 480 resolution target = 240, reached Mon 13:00 in a 09:00 start.
    Case("at-risk: custom percent", contract(OFFICE, at_risk_percent=50), (start(at(2026, 3, 2, 9)),),
         at(2026, 3, 2, 12), S, 180, 300, at(2026, 3, 2, 17), RUNNING,
         {"at_risk": False, "at_risk_at": at(2026, 3, 2, 13)}),
    # Entries in any order, and a RESOLVE after now that must be ignored: started 09:00, responded 09:10,
    # customer hold 10:00-11:00, now 12:00: resolution 09-10 + 11-12 = 120; 360 left = Mon 12-17 (300) +
    # Tue 09-10 (60): due Tue 10:00.
    Case("unsorted-and-future-entries", contract(OFFICE),
         (event(at(2026, 3, 2, 11), RESUME), event(at(2026, 3, 2, 16), RESOLVE), hold(at(2026, 3, 2, 10)),
          start(at(2026, 3, 2, 9)), event(at(2026, 3, 2, 9, 10), RESPOND)),
         at(2026, 3, 2, 12), S, 120, 360, at(2026, 3, 3, 10), RUNNING),
    # Response stops at the first RESPOND (09:10 -> 10); a later RESPOND changes nothing.
    Case("first-respond-wins", contract(OFFICE),
         (start(at(2026, 3, 2, 9)), event(at(2026, 3, 2, 9, 10), RESPOND),
          event(at(2026, 3, 2, 9, 50), RESPOND)),
         at(2026, 3, 2, 12), R, 10, 50, None, MET),
    # Resolved at 09:40 with no RESPOND: resolving answers too, so the response clock stops at 40 of 60.
    Case("resolve-answers", contract(OFFICE),
         (start(at(2026, 3, 2, 9)), event(at(2026, 3, 2, 9, 40), RESOLVE)),
         at(2026, 3, 2, 12), R, 40, 20, None, MET),
    # Customer hold before any response pauses the response clock too: 09:00-09:20 then paused -> PAUSED.
    Case("hold-before-response", contract(OFFICE), (start(at(2026, 3, 2, 9)), hold(at(2026, 3, 2, 9, 20))),
         at(2026, 3, 2, 12), R, 20, 40, None, PAUSED),
    # Closed at 12:00 after resolving at 11:00: 120 of 480, MET; a REOPEN after CLOSE is ignored.
    Case("close-is-terminal", contract(OFFICE),
         (start(at(2026, 3, 2, 9)), event(at(2026, 3, 2, 11), RESOLVE), event(at(2026, 3, 2, 12), CLOSE),
          event(at(2026, 3, 2, 13), REOPEN)),
         at(2026, 3, 2, 16), S, 120, 360, None, MET),
    # Over New Year with 1 Jan 2027 (a Friday) off: Thu 31 Dec 16-17 (60) + Mon 4 Jan 09-10 (60) = 120.
    Case("over-new-year", contract(NEW_YEAR), (start(at(2026, 12, 31, 16)),), at(2027, 1, 4, 10), S,
         120, 360, at(2027, 1, 4, 16), RUNNING),
    # Leap year, 24x7: 2028-02-28 12:00 UTC -> 2028-03-01 12:00 UTC is 48 h (29 Feb exists) = 2880 of 2400:
    # breached; the 2400 were reached 40 h after the start, 2028-03-01 04:00 UTC.
    Case("leap-day-24x7", contract(Calendar("UTC")), (start(at(2028, 2, 28, 12, tz="UTC"), Priority.P4),),
         at(2028, 3, 1, 12, tz="UTC"), S, 2880, -480, at(2028, 3, 1, 4, tz="UTC"), BREACHED),
    # Leap day in office hours (2028-02-28 is a Monday, 29 Feb a Tuesday): Mon 16:00 -> Wed 1 Mar 10:00
    # counts 60 + 480 + 60 = 600 of 1440 (P3): 840 left = Wed 10-17 (420) +
    # Thu 09-16 (420): due Thu 2 Mar 16:00.
    Case("leap-day-office-hours", contract(OFFICE), (start(at(2028, 2, 28, 16), Priority.P3),),
         at(2028, 3, 1, 10), S, 600, 840, at(2028, 3, 2, 16), RUNNING),
    # 24x7 with a pause: start Sat 10:00, customer hold 12:00 -> Sun 12:00 (24 h excluded), now Sun 14:00:
    # 2 h + 2 h = 240 of 480; 240 left -> due Sun 18:00.
    Case("pause-24x7", contract(ALWAYS_BER),
         (start(at(2026, 3, 7, 10)), hold(at(2026, 3, 7, 12)), event(at(2026, 3, 8, 12), RESUME)),
         at(2026, 3, 8, 14), S, 240, 240, at(2026, 3, 8, 18), RUNNING),
]
# fmt: on


def _reading(case: Case) -> ClockReading | None:
    compute = response_clock if case.clock == R else resolution_clock
    return compute(case.contract, case.history, case.now)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hand_worked_case(case: Case) -> None:
    reading = _reading(case)
    assert reading is not None
    assert reading.elapsed_minutes == case.elapsed
    assert reading.remaining_minutes == case.remaining
    assert reading.due_at == case.due
    assert reading.state is case.state
    for name, expected in case.more.items():
        assert getattr(reading, name) == expected, name
    # invariants every reading keeps
    assert reading.breached == (reading.state is BREACHED)
    assert (reading.remaining_minutes < 0) == reading.breached
    assert reading.due_at is None or reading.due_at.utcoffset() == timedelta(0)
    if reading.stopped:
        assert reading.due_at is None and not reading.at_risk


def test_there_are_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


def test_no_start_means_no_clock() -> None:
    history = (event(at(2026, 3, 2, 9), RESPOND),)
    assert response_clock(contract(OFFICE), history, at(2026, 3, 2, 12)) is None
    assert resolution_clock(contract(OFFICE), history, at(2026, 3, 2, 12)) is None


def test_start_after_now_means_no_clock() -> None:
    assert response_clock(contract(OFFICE), (start(at(2026, 3, 2, 9)),), at(2026, 3, 2, 8)) is None


def test_priority_without_a_target_means_no_clock() -> None:
    history = (start(at(2026, 3, 2, 9), Priority.P5),)
    assert sla_clocks(contract(OFFICE), history, at(2026, 3, 2, 12)) == (None, None)
    raised = (*history, priority(at(2026, 3, 2, 10), Priority.P1))
    response, resolution = sla_clocks(contract(OFFICE), raised, at(2026, 3, 2, 12))
    assert response is not None and resolution is not None
    assert resolution.elapsed_minutes == 180 and resolution.target_minutes == 240


def test_sla_clocks_agrees_with_the_single_clocks() -> None:
    for case in CASES:
        response, resolution = sla_clocks(case.contract, case.history, case.now)
        assert response == response_clock(case.contract, case.history, case.now)
        assert resolution == resolution_clock(case.contract, case.history, case.now)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError):
        HistoryEntry(datetime(2026, 3, 2, 9), HistoryKind.START, priority=Priority.P1)
    with pytest.raises(ValueError):
        response_clock(contract(OFFICE), (start(at(2026, 3, 2, 9)),), datetime(2026, 3, 2, 12))


def test_readings_are_utc() -> None:
    reading = response_clock(contract(OFFICE), (start(at(2026, 3, 2, 9)),), at(2026, 3, 2, 9, 10))
    assert reading is not None and reading.due_at is not None and reading.at_risk_at is not None
    assert reading.due_at.tzinfo is UTC and reading.due_at == datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert reading.elapsed == timedelta(minutes=10)


def test_validation_names_each_problem() -> None:
    problems = validate_business_hours(
        (
            BusinessInterval(0, time(9), time(17)),
            BusinessInterval(8, time(9), time(17)),
            BusinessInterval(1, time(17), time(9)),
            BusinessInterval(1, time(9), time(9)),
            BusinessInterval(2, time(9), time(13)),
            BusinessInterval(2, time(12), time(17)),
            BusinessInterval(3, time(22), MIDNIGHT),
            BusinessInterval(3, MIDNIGHT, time(6)),
        )
    )
    assert len(problems) == 5, problems
    assert sum("weekday must be" in problem for problem in problems) == 2
    assert sum("start must be before end" in problem for problem in problems) == 2
    assert any("overlaps" in problem and "weekday 2" in problem for problem in problems)
    assert validate_business_hours(OFFICE.hours + NIGHTS.hours + SPLIT.hours[:0]) == []
    assert validate_calendar(Calendar("Mars/Olympus_Mons")) == ["unknown timezone 'Mars/Olympus_Mons'"]
    assert validate_calendar(NIGHTS) == []


def test_overlapping_intervals_count_once() -> None:
    doubled = Calendar(BER, hours(MON_FRI, (time(9), time(13)), (time(12), time(17)), NINE_TO_FIVE))
    assert business_time_between(doubled, at(2026, 3, 2), at(2026, 3, 3)) == timedelta(hours=8)


def test_long_spans_and_far_projections() -> None:
    # ten years of office hours with no holidays: 52 or 53 weeks of 5 x 8 h a year, counted exactly
    span = business_time_between(OFFICE, at(2020, 1, 1), at(2030, 1, 1))
    weekdays = sum(1 for n in range(3653) if (date(2020, 1, 1) + timedelta(n)).isoweekday() <= 5)
    assert span == timedelta(hours=8 * weekdays)
    # a target far beyond the first table: 2000 working days from Mon 2026-03-02 09:00 end on the Friday of
    # the 400th week, 399 weeks and 4 days later (2797 days): Fri 2033-10-28 17:00
    assert add_business_time(OFFICE, at(2026, 3, 2, 9), 2000 * 480) == at(2033, 10, 28, 17)


def test_a_calendar_without_business_time_never_falls_due() -> None:
    nothing = Calendar(BER, (BusinessInterval(1, time(10), time(9)),))
    assert business_time_between(nothing, at(2026, 3, 2), at(2026, 4, 2)) == timedelta(0)
    with pytest.raises(ValueError):
        add_business_time(nothing, at(2026, 3, 2), 1)
    reading = response_clock(contract(nothing), (start(at(2026, 3, 2, 9)),), at(2026, 3, 2, 12))
    assert reading is not None
    assert reading.elapsed_minutes == 0 and reading.state is RUNNING and reading.due_at is None


def test_cumulative_values_survive_the_table_growing() -> None:
    schedule = Schedule(EASTER)
    late = to_us(at(2026, 4, 7, 10))
    value = schedule.cumulative(late)
    earlier = schedule.cumulative(to_us(at(2019, 6, 3, 12)))  # grows the table backwards ...
    assert schedule.cumulative(to_us(at(2035, 1, 1))) > value  # ... and forwards
    assert schedule.cumulative(late) == value
    assert value - earlier == schedule.between(to_us(at(2019, 6, 3, 12)), late)
