"""What arrived against what should have: per subscriber and per committed change.

What a subscriber should receive follows the API's rules:

- ``incidentEvents``: every comment of its tenant's incidents committed during the run; a CUSTOMER only
  the PUBLIC ones (an INTERNAL comment reaching a customer is counted as *unexpected*, as is anything of
  another tenant);
- ``serviceStatusChanged``: every bulletin step of its tenant (each flips the service's status once);
- ``publicStatusChanged``: a new state of the page after every bulletin step of its tenant. The page
  sends one fresh state for however many changes reached the server together, so a step whose state
  never came is *superseded*, not lost, when a state of a later step of the same tenant did come (that
  state shows the step too). A step is lost for a viewer only when no state at or after it arrived.

A change received twice by one subscriber is *duplicated*; for a public viewer that is the same page
state (the same latest bulletin update) sent twice, which happens when a page read already showed a
later step and that step's arrival sends a fresh read showing it again. Latency is from the mutation's answer to the
first receipt; a receipt can come before the answer does (the event is announced at commit, and the
answer is still on its way), which makes a latency slightly negative: it is kept as measured.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from live.client import Report
from live.commits import Commit
from live.plan import Kind, Role, Spec


@dataclass
class Tally:
    latencies_ms: dict[Kind, list[float]] = field(default_factory=lambda: {k: [] for k in Kind})
    expected: int = 0
    lost: int = 0
    duplicated: int = 0
    superseded: int = 0
    unexpected: int = 0
    # Lost and duplicated by subscription field, to tell where a problem is.
    lost_by_kind: Counter[Kind] = field(default_factory=Counter)
    duplicated_by_kind: Counter[Kind] = field(default_factory=Counter)
    # Subscriptions that ended in an error, and changes the server failed (not committed, not counted).
    errors: list[str] = field(default_factory=list)
    # (when the change was committed, its latency in ms) for every first receipt: where in the run the
    # slow deliveries were.
    timeline: list[tuple[float, float]] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return self.expected - self.lost - self.superseded

    @property
    def all_latencies(self) -> list[float]:
        return [value for values in self.latencies_ms.values() for value in values]


def expected_of(spec: Spec, commits: list[Commit]) -> list[Commit]:
    """The changes ``spec``'s subscriber should receive, in commit order."""
    ours = [c for c in commits if c.tenant == spec.tenant]
    if spec.kind is Kind.EVENTS:
        return [c for c in ours if not c.is_step and (not c.internal or spec.role is Role.AGENT)]
    return sorted((c for c in ours if c.is_step), key=lambda c: c.at)


def tally(specs: list[Spec], reports: list[Report], commits: list[Commit]) -> Tally:
    measured = {c.key for c in commits}
    result = Tally()
    for report in reports:
        spec = specs[report.index]
        result.errors.extend(report.errors)
        first: dict[str, float] = {}
        times = Counter[str]()
        for key, at in report.receipts:
            if key in measured:
                times[key] += 1
                first.setdefault(key, at)
        expected = expected_of(spec, commits)
        wanted = {c.key for c in expected}
        result.unexpected += sum(1 for key in times if key not in wanted)
        result.expected += len(expected)
        latest_received = max((i for i, c in enumerate(expected) if c.key in first), default=-1)
        for i, change in enumerate(expected):
            if change.key in first:
                latency = (first[change.key] - change.at) * 1000
                result.latencies_ms[spec.kind].append(latency)
                result.timeline.append((change.at, latency))
                result.duplicated += times[change.key] - 1
                result.duplicated_by_kind[spec.kind] += times[change.key] - 1
            elif spec.kind is Kind.PUBLIC and i < latest_received:
                result.superseded += 1
            else:
                result.lost += 1
                result.lost_by_kind[spec.kind] += 1
    return result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def latency_line(label: str, values: list[float]) -> str:
    if not values:
        return f"{label}: no deliveries"
    return (
        f"{label}: p50 {percentile(values, 0.5):.1f}  p99 {percentile(values, 0.99):.1f}"
        f"  max {max(values):.1f}  mean {sum(values) / len(values):.1f}  ({len(values)} deliveries)"
    )


# The live-updates targets.
P99_TARGET_MS = 100.0
IDLE_KB_TARGET = 50.0


def targets(result: Tally, idle_kb_per_connection: float) -> list[tuple[bool, str]]:
    p99 = percentile(result.all_latencies, 0.99)
    return [
        (p99 < P99_TARGET_MS, f"p99 commit->receipt < {P99_TARGET_MS:.0f} ms: {p99:.1f} ms"),
        (result.lost == 0, f"0 events lost: {result.lost}"),
        (result.duplicated == 0, f"0 events duplicated: {result.duplicated}"),
        (
            idle_kb_per_connection < IDLE_KB_TARGET,
            f"< {IDLE_KB_TARGET:.0f} KB per idle connection: {idle_kb_per_connection:.1f} KB",
        ),
    ]
