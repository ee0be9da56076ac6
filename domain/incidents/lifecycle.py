"""The priority matrix and the status machine of DESIGN.md, as pure functions (no I/O).

The status table in DESIGN.md is the single source of truth; ``TRANSITIONS`` is that table as data, and
``decide`` never moves an incident along a pair that is not in it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from domain.errors import ErrorCode, Problem
from domain.incidents.enums import (
    HoldReason,
    Impact,
    IncidentEventKind,
    IncidentStatus,
    Priority,
    Urgency,
    Visibility,
)
from domain.tenancy.roles import Role, at_least

S = IncidentStatus

_MATRIX: dict[tuple[Impact, Urgency], Priority] = {
    (Impact.HIGH, Urgency.HIGH): Priority.P1,
    (Impact.HIGH, Urgency.MEDIUM): Priority.P2,
    (Impact.HIGH, Urgency.LOW): Priority.P3,
    (Impact.MEDIUM, Urgency.HIGH): Priority.P2,
    (Impact.MEDIUM, Urgency.MEDIUM): Priority.P3,
    (Impact.MEDIUM, Urgency.LOW): Priority.P4,
    (Impact.LOW, Urgency.HIGH): Priority.P3,
    (Impact.LOW, Urgency.MEDIUM): Priority.P4,
    (Impact.LOW, Urgency.LOW): Priority.P5,
}


def priority_for(impact: Impact, urgency: Urgency) -> Priority:
    return _MATRIX[(impact, urgency)]


# DESIGN.md, "Status transitions": every (from, to) pair an incident may take. Anything else is refused.
TRANSITIONS: frozenset[tuple[IncidentStatus, IncidentStatus]] = frozenset(
    {
        (S.NEW, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.ON_HOLD),
        (S.ON_HOLD, S.IN_PROGRESS),
        (S.NEW, S.RESOLVED),
        (S.IN_PROGRESS, S.RESOLVED),
        (S.ON_HOLD, S.RESOLVED),
        (S.RESOLVED, S.IN_PROGRESS),
        (S.RESOLVED, S.CLOSED),
        (S.NEW, S.CANCELLED),
        (S.IN_PROGRESS, S.CANCELLED),
        (S.ON_HOLD, S.CANCELLED),
    }
)


class Operation(enum.StrEnum):
    """Everything that can be done to an incident. Each accepted one writes exactly one timeline event."""

    ACKNOWLEDGE = "ACKNOWLEDGE"
    ASSIGN = "ASSIGN"
    CLASSIFY = "CLASSIFY"
    COMMENT = "COMMENT"
    PUT_ON_HOLD = "PUT_ON_HOLD"
    RESUME = "RESUME"
    APPLY_WORKAROUND = "APPLY_WORKAROUND"
    ESCALATE = "ESCALATE"
    RESOLVE = "RESOLVE"
    REOPEN = "REOPEN"
    CLOSE = "CLOSE"
    CANCEL = "CANCEL"
    RATE = "RATE"
    LOG_WORK = "LOG_WORK"
    CORRECT_WORK = "CORRECT_WORK"
    WITHDRAW_WORK = "WITHDRAW_WORK"
    SET_TASK = "SET_TASK"
    LINK = "LINK"
    UNLINK = "UNLINK"
    DECLARE_MAJOR = "DECLARE_MAJOR"
    ADD_RESPONDER = "ADD_RESPONDER"
    AFFECT_TENANTS = "AFFECT_TENANTS"
    APPLY_MODEL = "APPLY_MODEL"
    RECEIVE_ALERT = "RECEIVE_ALERT"


@dataclass(frozen=True)
class IncidentState:
    """The part of an incident the status machine reads."""

    status: IncidentStatus
    responded: bool = False
    on_hold_reason: HoldReason | None = None
    rated: bool = False
    major: bool = False
    # Only read when closing a major incident: its review must be published first.
    review_published: bool = False


@dataclass(frozen=True)
class Request:
    """Who asks for an operation, and the operation's own arguments that change its outcome.

    ``system`` marks work the service does by itself (auto-close, a parent's changes flowing to its
    children): no role or reporter check applies, but the status table does.
    """

    operation: Operation
    role: Role
    is_reporter: bool = False
    visibility: Visibility = Visibility.PUBLIC
    hold_reason: HoldReason | None = None
    system: bool = False


@dataclass(frozen=True)
class Step:
    """An accepted operation: the state after it and the one event that records it."""

    state: IncidentState
    event: IncidentEventKind
    responds: bool  # True when this step is the first response: stamp respondedAt now


OPEN = frozenset({S.NEW, S.IN_PROGRESS, S.ON_HOLD})
NOT_TERMINAL = OPEN | {S.RESOLVED}
ANY = frozenset(S)
STAFF = Role.AGENT

# operation -> (statuses it is allowed from, minimum role, event kind)
_RULES: dict[Operation, tuple[frozenset[IncidentStatus], Role, IncidentEventKind]] = {
    Operation.ACKNOWLEDGE: (frozenset({S.NEW}), STAFF, IncidentEventKind.ACKNOWLEDGED),
    Operation.ASSIGN: (NOT_TERMINAL, STAFF, IncidentEventKind.ASSIGNED),
    Operation.CLASSIFY: (NOT_TERMINAL, STAFF, IncidentEventKind.CLASSIFIED),
    Operation.COMMENT: (NOT_TERMINAL, Role.CUSTOMER, IncidentEventKind.COMMENTED),
    Operation.PUT_ON_HOLD: (frozenset({S.IN_PROGRESS}), STAFF, IncidentEventKind.PUT_ON_HOLD),
    Operation.RESUME: (frozenset({S.ON_HOLD}), STAFF, IncidentEventKind.RESUMED),
    Operation.APPLY_WORKAROUND: (OPEN, STAFF, IncidentEventKind.WORKAROUND_APPLIED),
    Operation.ESCALATE: (OPEN, STAFF, IncidentEventKind.ESCALATED),
    Operation.RESOLVE: (OPEN, STAFF, IncidentEventKind.RESOLVED),
    Operation.REOPEN: (frozenset({S.RESOLVED}), Role.CUSTOMER, IncidentEventKind.REOPENED),
    Operation.CLOSE: (frozenset({S.RESOLVED}), Role.CUSTOMER, IncidentEventKind.CLOSED),
    Operation.CANCEL: (OPEN, Role.CUSTOMER, IncidentEventKind.CANCELLED),
    Operation.RATE: (frozenset({S.RESOLVED, S.CLOSED}), Role.CUSTOMER, IncidentEventKind.RATED),
    Operation.LOG_WORK: (NOT_TERMINAL, STAFF, IncidentEventKind.WORK_LOGGED),
    # Billing is settled after the incident ends: its entries change until their month is closed, which
    # the billing use cases check (as they check that only the author or a MANAGER changes an entry).
    Operation.CORRECT_WORK: (ANY, STAFF, IncidentEventKind.WORK_CORRECTED),
    Operation.WITHDRAW_WORK: (ANY, STAFF, IncidentEventKind.WORK_WITHDRAWN),
    Operation.SET_TASK: (NOT_TERMINAL, STAFF, IncidentEventKind.TASK_UPDATED),
    Operation.LINK: (OPEN, STAFF, IncidentEventKind.LINKED),
    Operation.UNLINK: (NOT_TERMINAL, STAFF, IncidentEventKind.UNLINKED),
    Operation.DECLARE_MAJOR: (OPEN, Role.MANAGER, IncidentEventKind.MAJOR_DECLARED),
    Operation.ADD_RESPONDER: (OPEN, STAFF, IncidentEventKind.RESPONDER_ADDED),
    Operation.AFFECT_TENANTS: (OPEN, STAFF, IncidentEventKind.LINKED),
    Operation.APPLY_MODEL: (OPEN, STAFF, IncidentEventKind.MODEL_APPLIED),
    # Monitoring repeating the alert an open incident answers: counted on it, its status unchanged.
    Operation.RECEIVE_ALERT: (OPEN, STAFF, IncidentEventKind.ALERT_RECEIVED),
}

# A CUSTOMER may do these only to incidents they reported themselves; staff may do them to any.
_REPORTER_ONLY_FOR_CUSTOMERS = frozenset({Operation.CANCEL, Operation.CLOSE, Operation.REOPEN})


def _words(op: Operation) -> str:
    return op.value.lower().replace("_", " ")


def decide(state: IncidentState, request: Request) -> Step | Problem:
    """Accept ``request`` on an incident in ``state`` (returning the step) or refuse it (a problem)."""
    allowed_from, minimum, event = _RULES[request.operation]
    op = request.operation
    staff = request.system or at_least(request.role, STAFF)
    if not request.system:
        refusal = _check_rights(request, minimum, staff)
        if refusal is not None:
            return refusal
    if state.status not in allowed_from:
        return Problem(
            ErrorCode.INVALID_TRANSITION, f"cannot {_words(op)} an incident that is {state.status.value}"
        )
    if op is Operation.RATE and state.rated:
        return Problem(ErrorCode.INVALID_TRANSITION, "the incident has already been rated")
    if op is Operation.DECLARE_MAJOR and state.major:
        return Problem(ErrorCode.INVALID_TRANSITION, "the incident is already a major incident")
    if op is Operation.CLOSE and state.major and not state.review_published:
        return Problem(
            ErrorCode.INVALID_TRANSITION,
            "a major incident cannot be closed before its review is published",
        )
    if op is Operation.PUT_ON_HOLD and request.hold_reason is None:
        return Problem(ErrorCode.INVALID, "a hold needs a reason", ("reason",))
    return _apply(state, request, event, staff)


def _check_rights(request: Request, minimum: Role, staff: bool) -> Problem | None:
    op = request.operation
    if not at_least(request.role, minimum):
        return Problem(ErrorCode.FORBIDDEN, f"{_words(op)} needs the {minimum.value} role")
    if op in _REPORTER_ONLY_FOR_CUSTOMERS and not staff and not request.is_reporter:
        return Problem(ErrorCode.FORBIDDEN, "only the reporter or staff may do this")
    if op is Operation.RATE and not request.is_reporter:
        return Problem(ErrorCode.FORBIDDEN, "only the reporter may rate an incident")
    if op is Operation.COMMENT and not staff and request.visibility is Visibility.INTERNAL:
        return Problem(ErrorCode.FORBIDDEN, "customers may only add PUBLIC comments", ("visibility",))
    return None


def _apply(state: IncidentState, request: Request, event: IncidentEventKind, staff: bool) -> Step:
    op = request.operation
    status, hold = state.status, state.on_hold_reason
    if op in (Operation.ACKNOWLEDGE, Operation.ASSIGN) and status is S.NEW:
        status = S.IN_PROGRESS
    elif op is Operation.COMMENT:
        if staff and request.visibility is Visibility.PUBLIC and status is S.NEW:
            status = S.IN_PROGRESS
        elif not staff and status is S.ON_HOLD and hold is HoldReason.AWAITING_CUSTOMER:
            # The customer answered: the wait is over and the incident is worked again.
            status, hold = S.IN_PROGRESS, None
    elif op is Operation.PUT_ON_HOLD:
        status, hold = S.ON_HOLD, request.hold_reason
    elif op in (Operation.RESUME, Operation.REOPEN):
        status, hold = S.IN_PROGRESS, None
    elif op is Operation.RESOLVE:
        status, hold = S.RESOLVED, None
    elif op is Operation.CLOSE:
        status = S.CLOSED
    elif op is Operation.CANCEL:
        status, hold = S.CANCELLED, None
    if status is not state.status and (state.status, status) not in TRANSITIONS:  # pragma: no cover
        raise AssertionError(f"{op} would take {state.status} to {status}")
    responds = not state.responded and state.status is S.NEW and status is S.IN_PROGRESS
    # Resolving an incident nobody acknowledged answers it too: the response clock must stop.
    responds = responds or (not state.responded and status is S.RESOLVED)
    new_state = IncidentState(
        status=status,
        responded=state.responded or responds,
        on_hold_reason=hold,
        rated=state.rated or op is Operation.RATE,
        major=state.major or op is Operation.DECLARE_MAJOR,
        review_published=state.review_published,
    )
    return Step(state=new_state, event=event, responds=responds)
