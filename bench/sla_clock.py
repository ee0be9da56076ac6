"""Benchmark: both SLA clocks for many incidents, each with a year of status history.

Builds incidents against a Europe/Berlin business-hours contract with public holidays, each with 20-50
history entries (responses, holds for pausing and non-pausing reasons, resumes, priority changes,
resolutions and reopenings) spread over a year, then reads the response and resolution clocks of every
one at a fixed `now` and prints incidents per second. History is generated in batches outside the timed
part, so memory stays flat.

    python bench/sla_clock.py [--incidents N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import time as clock_time
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

from domain.incidents.enums import HoldReason, Priority
from domain.sla.calendar import BusinessInterval, Calendar
from domain.sla.clock import (
    ClockReading,
    Contract,
    HistoryEntry,
    HistoryKind,
    Target,
    sla_clocks,
)

BATCH = 10_000
YEAR = timedelta(days=365)
NOW = datetime(2026, 7, 1, tzinfo=UTC)

# German nationwide public holidays, 2025-2026
HOLIDAYS = frozenset(
    date.fromisoformat(day)
    for day in (
        "2025-01-01 2025-04-18 2025-04-21 2025-05-01 2025-05-29 2025-06-09 2025-10-03 2025-12-25 2025-12-26 "
        "2026-01-01 2026-04-03 2026-04-06 2026-05-01 2026-05-14 2026-05-25 2026-10-03 2026-12-25 2026-12-26"
    ).split()
)
CONTRACT = Contract(
    calendar=Calendar(
        "Europe/Berlin",
        tuple(
            BusinessInterval(day, start, end)
            for day in range(1, 6)
            for start, end in ((time(8), time(12, 30)), (time(13, 15), time(18)))
        ),
        HOLIDAYS,
    ),
    targets={
        Priority.P1: Target(30, 240),
        Priority.P2: Target(60, 480),
        Priority.P3: Target(240, 1440),
        Priority.P4: Target(480, 2400),
        Priority.P5: Target(960, 4800),
    },
    pause_on=frozenset({HoldReason.AWAITING_CUSTOMER, HoldReason.AWAITING_VENDOR}),
    at_risk_percent=75,
)
PRIORITIES = list(Priority)
REASONS = list(HoldReason)


def incident(rng: random.Random) -> list[HistoryEntry]:
    """A year in the life of one incident: about 20 to 50 entries, in order."""
    started = datetime(2025, 7, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(86_400 * 30))
    entries = [HistoryEntry(started, HistoryKind.START, priority=rng.choice(PRIORITIES))]
    goal = rng.randint(20, 50)
    step = YEAR / goal
    moment = started + timedelta(minutes=rng.randint(1, 600))
    entries.append(HistoryEntry(moment, HistoryKind.RESPOND))
    resolved = False
    while len(entries) < goal - 1:
        moment += step * rng.uniform(0.2, 1.8)
        if resolved:
            entries.append(HistoryEntry(moment, HistoryKind.REOPEN))
            resolved = False
            continue
        roll = rng.random()
        if roll < 0.45:
            entries.append(HistoryEntry(moment, HistoryKind.HOLD, hold_reason=rng.choice(REASONS)))
            moment += step * rng.uniform(0.1, 0.9)
            entries.append(HistoryEntry(moment, HistoryKind.RESUME))
        elif roll < 0.65:
            entries.append(HistoryEntry(moment, HistoryKind.PRIORITY, priority=rng.choice(PRIORITIES)))
        else:
            entries.append(HistoryEntry(moment, HistoryKind.RESOLVE))
            resolved = True
    moment += step * rng.uniform(0.2, 1.0)
    ending = rng.random()
    if ending < 0.6:
        if not resolved:
            entries.append(HistoryEntry(moment, HistoryKind.RESOLVE))
        entries.append(HistoryEntry(moment + timedelta(days=3), HistoryKind.CLOSE))
    elif ending < 0.65:
        entries.append(HistoryEntry(moment, HistoryKind.CANCEL))
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20260329)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    generating = computing = 0.0
    entries_seen = 0
    states: Counter[str] = Counter()
    remaining = args.incidents
    while remaining > 0:
        size = min(BATCH, remaining)
        remaining -= size
        began = clock_time.perf_counter()
        batch = [incident(rng) for _ in range(size)]
        generating += clock_time.perf_counter() - began
        entries_seen += sum(len(history) for history in batch)

        began = clock_time.perf_counter()
        # Both clocks in one pass over the history, as the scanner and the API read them.
        readings: list[tuple[ClockReading | None, ClockReading | None]] = [
            sla_clocks(CONTRACT, history, NOW) for history in batch
        ]
        computing += clock_time.perf_counter() - began
        for response, resolution in readings:
            assert response is not None and resolution is not None
            states[f"response {response.state}"] += 1
            states[f"resolution {resolution.state}{' (cancelled)' if resolution.cancelled else ''}"] += 1

    per_incident = entries_seen / args.incidents
    print(f"incidents: {args.incidents:,}  history entries: {entries_seen:,}  ({per_incident:.1f} each)")
    print(f"generating histories: {generating:.1f} s (not part of the rate)")
    print(f"both clocks for all: {computing:.2f} s  ->  {args.incidents / computing:,.0f} incidents/s")
    for label, count in sorted(states.items()):
        print(f"  {label:<36} {count:>9,}")


if __name__ == "__main__":
    main()
