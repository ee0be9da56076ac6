"""The bulletin phase machine and the worst-status rule: pure functions, no I/O.

Phases per kind, in the only order a bulletin walks them (it may skip ahead, never go back):

- INCIDENT: INVESTIGATING -> IDENTIFIED -> MONITORING -> RESOLVED
- MAINTENANCE: SCHEDULED -> IN_PROGRESS -> COMPLETED; it moves by itself at ``scheduledStart`` and
  ``scheduledEnd`` (``due_phase``), and may be moved early by hand
- INFORMATION: IN_PROGRESS -> COMPLETED

An update may repeat the current phase (news without a change of phase). RESOLVED and COMPLETED are
final: nothing follows them. A bulletin is *active* while it is published and not final.

A service's status is the worst status declared for it by the tenant's declaring bulletins, OPERATIONAL
when none declares anything. A bulletin declares while it is active, except a maintenance that has not
started yet: a SCHEDULED window announces, it does not yet take a service down.
Severity, from best to worst: OPERATIONAL, UNDER_MAINTENANCE, DEGRADED_PERFORMANCE, PARTIAL_OUTAGE,
MAJOR_OUTAGE (an outage during a maintenance window is the news a visitor needs).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from domain.errors import ErrorCode, Problem


class BulletinKind(enum.StrEnum):
    INCIDENT = "INCIDENT"
    MAINTENANCE = "MAINTENANCE"
    INFORMATION = "INFORMATION"


class BulletinPhase(enum.StrEnum):
    INVESTIGATING = "INVESTIGATING"
    IDENTIFIED = "IDENTIFIED"
    MONITORING = "MONITORING"
    RESOLVED = "RESOLVED"
    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"


class ServiceStatus(enum.StrEnum):
    OPERATIONAL = "OPERATIONAL"
    DEGRADED_PERFORMANCE = "DEGRADED_PERFORMANCE"
    PARTIAL_OUTAGE = "PARTIAL_OUTAGE"
    MAJOR_OUTAGE = "MAJOR_OUTAGE"
    UNDER_MAINTENANCE = "UNDER_MAINTENANCE"


PHASES: dict[BulletinKind, tuple[BulletinPhase, ...]] = {
    BulletinKind.INCIDENT: (
        BulletinPhase.INVESTIGATING,
        BulletinPhase.IDENTIFIED,
        BulletinPhase.MONITORING,
        BulletinPhase.RESOLVED,
    ),
    BulletinKind.MAINTENANCE: (
        BulletinPhase.SCHEDULED,
        BulletinPhase.IN_PROGRESS,
        BulletinPhase.COMPLETED,
    ),
    BulletinKind.INFORMATION: (BulletinPhase.IN_PROGRESS, BulletinPhase.COMPLETED),
}

FINAL_PHASES = frozenset({BulletinPhase.RESOLVED, BulletinPhase.COMPLETED})

SEVERITY: dict[ServiceStatus, int] = {
    ServiceStatus.OPERATIONAL: 0,
    ServiceStatus.UNDER_MAINTENANCE: 1,
    ServiceStatus.DEGRADED_PERFORMANCE: 2,
    ServiceStatus.PARTIAL_OUTAGE: 3,
    ServiceStatus.MAJOR_OUTAGE: 4,
}


def _wrong_kind(kind: BulletinKind, *field: str) -> Problem:
    allowed = ", ".join(p.value for p in PHASES[kind])
    return Problem(ErrorCode.INVALID, f"a {kind.value} bulletin's phase is one of {allowed}", field or None)


def opening_problem(kind: BulletinKind, phase: BulletinPhase, *field: str) -> Problem | None:
    """Why a new bulletin may not start in ``phase``, or None when it may."""
    if phase not in PHASES[kind]:
        return _wrong_kind(kind, *field)
    if phase in FINAL_PHASES:
        return Problem(ErrorCode.INVALID, "a bulletin cannot start in a final phase", field or None)
    return None


def step_problem(
    kind: BulletinKind, current: BulletinPhase, wanted: BulletinPhase, *field: str
) -> Problem | None:
    """Why a bulletin in ``current`` may not move to ``wanted``, or None when it may."""
    if wanted not in PHASES[kind]:
        return _wrong_kind(kind, *field)
    if current in FINAL_PHASES:
        return Problem(
            ErrorCode.INVALID_TRANSITION, f"the bulletin is {current.value}: nothing follows", field or None
        )
    order = PHASES[kind]
    # A phase foreign to the kind (never written by this module) may move to any phase of the kind.
    position = order.index(current) if current in order else -1
    if order.index(wanted) < position:
        return Problem(
            ErrorCode.INVALID_TRANSITION,
            f"a bulletin cannot go back from {current.value} to {wanted.value}",
            field or None,
        )
    return None


def is_active(published: bool, phase: BulletinPhase) -> bool:
    return published and phase not in FINAL_PHASES


def declares(kind: BulletinKind, phase: BulletinPhase, published: bool) -> bool:
    """Whether the bulletin's affected services count towards their status now."""
    if not is_active(published, phase):
        return False
    return not (kind is BulletinKind.MAINTENANCE and phase is BulletinPhase.SCHEDULED)


def worst(statuses: Iterable[ServiceStatus]) -> ServiceStatus:
    return max(statuses, key=SEVERITY.__getitem__, default=ServiceStatus.OPERATIONAL)


@dataclass(frozen=True)
class Declaration:
    """One bulletin's claim about one service."""

    kind: BulletinKind
    phase: BulletinPhase
    published: bool
    service_id: uuid.UUID
    status: ServiceStatus


def service_statuses(
    service_ids: Iterable[uuid.UUID], declarations: Iterable[Declaration]
) -> dict[uuid.UUID, ServiceStatus]:
    """The status of each of ``service_ids``: the worst that a declaring bulletin declares for it."""
    declared: dict[uuid.UUID, list[ServiceStatus]] = {}
    for d in declarations:
        if declares(d.kind, d.phase, d.published):
            declared.setdefault(d.service_id, []).append(d.status)
    return {s: worst(declared.get(s, ())) for s in service_ids}


def due_phase(
    kind: BulletinKind,
    phase: BulletinPhase,
    scheduled_start: datetime | None,
    scheduled_end: datetime | None,
    now: datetime,
) -> BulletinPhase | None:
    """The phase a maintenance window has reached by itself at ``now``, if that differs from ``phase``."""
    if kind is not BulletinKind.MAINTENANCE or phase in FINAL_PHASES:
        return None
    if scheduled_end is not None and now >= scheduled_end:
        return BulletinPhase.COMPLETED
    if phase is BulletinPhase.SCHEDULED and scheduled_start is not None and now >= scheduled_start:
        return BulletinPhase.IN_PROGRESS
    return None
