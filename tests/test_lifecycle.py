"""The priority matrix and the status machine (domain/incidents/lifecycle.py), table by table from DESIGN.md."""

from __future__ import annotations

import itertools

import pytest

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
from domain.incidents.lifecycle import IncidentState, Operation, Request, Step, decide, priority_for
from domain.tenancy.roles import Role

S = IncidentStatus
Op = Operation
CUSTOMER, AGENT, MANAGER = Role.CUSTOMER, Role.AGENT, Role.MANAGER

# ---------------------------------------------------------------- priority matrix (DESIGN.md)

MATRIX = [
    (Impact.HIGH, Urgency.HIGH, Priority.P1),
    (Impact.HIGH, Urgency.MEDIUM, Priority.P2),
    (Impact.HIGH, Urgency.LOW, Priority.P3),
    (Impact.MEDIUM, Urgency.HIGH, Priority.P2),
    (Impact.MEDIUM, Urgency.MEDIUM, Priority.P3),
    (Impact.MEDIUM, Urgency.LOW, Priority.P4),
    (Impact.LOW, Urgency.HIGH, Priority.P3),
    (Impact.LOW, Urgency.MEDIUM, Priority.P4),
    (Impact.LOW, Urgency.LOW, Priority.P5),
]


@pytest.mark.parametrize(("impact", "urgency", "priority"), MATRIX)
def test_priority_matrix(impact: Impact, urgency: Urgency, priority: Priority) -> None:
    assert priority_for(impact, urgency) is priority


def test_the_matrix_covers_every_cell() -> None:
    assert {(i, u) for i, u, _ in MATRIX} == set(itertools.product(Impact, Urgency))


# ---------------------------------------------------------------- accepted transitions (DESIGN.md)


def state(
    status: IncidentStatus, *, responded: bool | None = None, hold: HoldReason | None = None
) -> IncidentState:
    if responded is None:
        responded = status is not S.NEW
    if status is S.ON_HOLD and hold is None:
        hold = HoldReason.AWAITING_VENDOR
    return IncidentState(status=status, responded=responded, on_hold_reason=hold)


def accepted(outcome: Step | Problem) -> Step:
    assert isinstance(outcome, Step), f"refused: {outcome}"
    return outcome


# (from state, request, expected status after, expected event, stamps respondedAt)
TRANSITIONS = [
    # NEW -> IN_PROGRESS: acknowledge, assign, first PUBLIC comment by staff; each stops the response clock.
    (state(S.NEW), Request(Op.ACKNOWLEDGE, AGENT), S.IN_PROGRESS, IncidentEventKind.ACKNOWLEDGED, True),
    (state(S.NEW), Request(Op.ASSIGN, AGENT), S.IN_PROGRESS, IncidentEventKind.ASSIGNED, True),
    (state(S.NEW), Request(Op.COMMENT, AGENT), S.IN_PROGRESS, IncidentEventKind.COMMENTED, True),
    (state(S.NEW), Request(Op.COMMENT, MANAGER), S.IN_PROGRESS, IncidentEventKind.COMMENTED, True),
    # IN_PROGRESS -> ON_HOLD with a reason.
    (
        state(S.IN_PROGRESS),
        Request(Op.PUT_ON_HOLD, AGENT, hold_reason=HoldReason.AWAITING_CUSTOMER),
        S.ON_HOLD,
        IncidentEventKind.PUT_ON_HOLD,
        False,
    ),
    # ON_HOLD -> IN_PROGRESS: resume, or a customer comment while AWAITING_CUSTOMER.
    (state(S.ON_HOLD), Request(Op.RESUME, AGENT), S.IN_PROGRESS, IncidentEventKind.RESUMED, False),
    (
        state(S.ON_HOLD, hold=HoldReason.AWAITING_CUSTOMER),
        Request(Op.COMMENT, CUSTOMER, is_reporter=True),
        S.IN_PROGRESS,
        IncidentEventKind.COMMENTED,
        False,
    ),
    # NEW, IN_PROGRESS, ON_HOLD -> RESOLVED. Resolving an unanswered incident answers it too.
    (state(S.NEW), Request(Op.RESOLVE, AGENT), S.RESOLVED, IncidentEventKind.RESOLVED, True),
    (state(S.IN_PROGRESS), Request(Op.RESOLVE, AGENT), S.RESOLVED, IncidentEventKind.RESOLVED, False),
    (state(S.ON_HOLD), Request(Op.RESOLVE, MANAGER), S.RESOLVED, IncidentEventKind.RESOLVED, False),
    # RESOLVED -> IN_PROGRESS: reopen, by the customer or staff.
    (
        state(S.RESOLVED),
        Request(Op.REOPEN, CUSTOMER, is_reporter=True),
        S.IN_PROGRESS,
        IncidentEventKind.REOPENED,
        False,
    ),
    (state(S.RESOLVED), Request(Op.REOPEN, AGENT), S.IN_PROGRESS, IncidentEventKind.REOPENED, False),
    # RESOLVED -> CLOSED: the customer confirms, or staff closes.
    (
        state(S.RESOLVED),
        Request(Op.CLOSE, CUSTOMER, is_reporter=True),
        S.CLOSED,
        IncidentEventKind.CLOSED,
        False,
    ),
    (state(S.RESOLVED), Request(Op.CLOSE, AGENT), S.CLOSED, IncidentEventKind.CLOSED, False),
    # NEW, IN_PROGRESS, ON_HOLD -> CANCELLED: the reporter or staff.
    (
        state(S.NEW),
        Request(Op.CANCEL, CUSTOMER, is_reporter=True),
        S.CANCELLED,
        IncidentEventKind.CANCELLED,
        False,
    ),
    (state(S.IN_PROGRESS), Request(Op.CANCEL, AGENT), S.CANCELLED, IncidentEventKind.CANCELLED, False),
    (state(S.ON_HOLD), Request(Op.CANCEL, AGENT), S.CANCELLED, IncidentEventKind.CANCELLED, False),
]


@pytest.mark.parametrize(
    ("before", "request_", "after", "event", "responds"),
    TRANSITIONS,
    ids=[f"{t[0].status.value}-{t[1].operation.value}-{t[1].role.value}" for t in TRANSITIONS],
)
def test_design_transitions_are_accepted(
    before: IncidentState, request_: Request, after: IncidentStatus, event: IncidentEventKind, responds: bool
) -> None:
    step = accepted(decide(before, request_))
    assert step.state.status is after
    assert step.event is event
    assert step.responds is responds
    assert step.state.responded is (before.responded or responds)
    if after is not S.ON_HOLD:
        assert step.state.on_hold_reason is None


def test_put_on_hold_keeps_its_reason() -> None:
    step = accepted(
        decide(state(S.IN_PROGRESS), Request(Op.PUT_ON_HOLD, AGENT, hold_reason=HoldReason.AWAITING_CHANGE))
    )
    assert step.state.on_hold_reason is HoldReason.AWAITING_CHANGE


# ---------------------------------------------------------------- steps that keep the status


KEEPS_STATUS = [
    (state(S.IN_PROGRESS), Request(Op.ASSIGN, AGENT)),
    (state(S.IN_PROGRESS), Request(Op.CLASSIFY, AGENT)),
    (state(S.NEW), Request(Op.CLASSIFY, AGENT)),
    (state(S.NEW), Request(Op.COMMENT, CUSTOMER, is_reporter=True)),
    (state(S.NEW), Request(Op.COMMENT, AGENT, visibility=Visibility.INTERNAL)),
    (state(S.ON_HOLD, hold=HoldReason.AWAITING_VENDOR), Request(Op.COMMENT, CUSTOMER)),
    (state(S.ON_HOLD), Request(Op.COMMENT, AGENT)),
    (state(S.RESOLVED), Request(Op.COMMENT, CUSTOMER)),
    (state(S.IN_PROGRESS), Request(Op.APPLY_WORKAROUND, AGENT)),
    (state(S.IN_PROGRESS), Request(Op.ESCALATE, AGENT)),
    (state(S.IN_PROGRESS), Request(Op.DECLARE_MAJOR, MANAGER)),
]


@pytest.mark.parametrize(("before", "request_"), KEEPS_STATUS)
def test_steps_that_keep_the_status(before: IncidentState, request_: Request) -> None:
    step = accepted(decide(before, request_))
    assert step.state.status is before.status
    assert step.responds is False
    assert step.state.on_hold_reason is before.on_hold_reason


def test_the_response_is_stamped_once() -> None:
    # An incident already answered (respondedAt set) going NEW -> IN_PROGRESS again never re-stamps it.
    step = accepted(decide(state(S.NEW, responded=True), Request(Op.ACKNOWLEDGE, AGENT)))
    assert step.state.status is S.IN_PROGRESS
    assert step.responds is False


# ---------------------------------------------------------------- refusals


REFUSED = [
    # Status does not allow the step: INVALID_TRANSITION.
    (state(S.IN_PROGRESS), Request(Op.ACKNOWLEDGE, AGENT), ErrorCode.INVALID_TRANSITION),
    (state(S.ON_HOLD), Request(Op.ACKNOWLEDGE, AGENT), ErrorCode.INVALID_TRANSITION),
    (
        state(S.NEW),
        Request(Op.PUT_ON_HOLD, AGENT, hold_reason=HoldReason.AWAITING_VENDOR),
        ErrorCode.INVALID_TRANSITION,
    ),
    (
        state(S.ON_HOLD),
        Request(Op.PUT_ON_HOLD, AGENT, hold_reason=HoldReason.AWAITING_VENDOR),
        ErrorCode.INVALID_TRANSITION,
    ),
    (state(S.IN_PROGRESS), Request(Op.RESUME, AGENT), ErrorCode.INVALID_TRANSITION),
    (state(S.IN_PROGRESS), Request(Op.REOPEN, AGENT), ErrorCode.INVALID_TRANSITION),
    (state(S.CLOSED), Request(Op.REOPEN, CUSTOMER, is_reporter=True), ErrorCode.INVALID_TRANSITION),
    (state(S.IN_PROGRESS), Request(Op.CLOSE, AGENT), ErrorCode.INVALID_TRANSITION),
    (state(S.NEW), Request(Op.CLOSE, CUSTOMER, is_reporter=True), ErrorCode.INVALID_TRANSITION),
    (state(S.RESOLVED), Request(Op.RESOLVE, AGENT), ErrorCode.INVALID_TRANSITION),
    (state(S.RESOLVED), Request(Op.CANCEL, AGENT), ErrorCode.INVALID_TRANSITION),
    (state(S.CLOSED), Request(Op.RESOLVE, AGENT), ErrorCode.INVALID_TRANSITION),
    (state(S.CLOSED), Request(Op.COMMENT, AGENT), ErrorCode.INVALID_TRANSITION),
    (state(S.CLOSED), Request(Op.ASSIGN, AGENT), ErrorCode.INVALID_TRANSITION),
    (state(S.CANCELLED), Request(Op.REOPEN, AGENT), ErrorCode.INVALID_TRANSITION),
    (state(S.CANCELLED), Request(Op.CLASSIFY, AGENT), ErrorCode.INVALID_TRANSITION),
    (state(S.CANCELLED), Request(Op.CANCEL, AGENT), ErrorCode.INVALID_TRANSITION),
    # Role or relationship does not allow it: FORBIDDEN.
    (state(S.NEW), Request(Op.ACKNOWLEDGE, CUSTOMER), ErrorCode.FORBIDDEN),
    (state(S.NEW), Request(Op.ASSIGN, CUSTOMER), ErrorCode.FORBIDDEN),
    (state(S.NEW), Request(Op.CLASSIFY, CUSTOMER, is_reporter=True), ErrorCode.FORBIDDEN),
    (state(S.IN_PROGRESS), Request(Op.RESOLVE, CUSTOMER, is_reporter=True), ErrorCode.FORBIDDEN),
    (state(S.NEW), Request(Op.COMMENT, CUSTOMER, visibility=Visibility.INTERNAL), ErrorCode.FORBIDDEN),
    (state(S.NEW), Request(Op.CANCEL, CUSTOMER, is_reporter=False), ErrorCode.FORBIDDEN),
    (state(S.RESOLVED), Request(Op.RATE, AGENT, is_reporter=False), ErrorCode.FORBIDDEN),
    (state(S.IN_PROGRESS), Request(Op.DECLARE_MAJOR, AGENT), ErrorCode.FORBIDDEN),
    # Missing argument.
    (state(S.IN_PROGRESS), Request(Op.PUT_ON_HOLD, AGENT), ErrorCode.INVALID),
]


@pytest.mark.parametrize(
    ("before", "request_", "code"),
    REFUSED,
    ids=[f"{t[0].status.value}-{t[1].operation.value}-{t[1].role.value}" for t in REFUSED],
)
def test_refused(before: IncidentState, request_: Request, code: ErrorCode) -> None:
    outcome = decide(before, request_)
    assert isinstance(outcome, Problem), f"accepted: {outcome}"
    assert outcome.code is code
    assert outcome.message


def test_rating_twice_is_refused() -> None:
    rated = IncidentState(status=S.RESOLVED, responded=True, rated=True)
    outcome = decide(rated, Request(Op.RATE, CUSTOMER, is_reporter=True))
    assert isinstance(outcome, Problem)
    assert outcome.code is ErrorCode.INVALID_TRANSITION


# ---------------------------------------------------------------- nothing outside the table

# DESIGN.md's status table as (from, to) pairs: every status change the machine makes must be one of these.
DESIGN_EDGES = {
    (S.NEW, S.IN_PROGRESS),
    (S.IN_PROGRESS, S.ON_HOLD),
    (S.ON_HOLD, S.IN_PROGRESS),
    *((s, S.RESOLVED) for s in (S.NEW, S.IN_PROGRESS, S.ON_HOLD)),
    (S.RESOLVED, S.IN_PROGRESS),
    (S.RESOLVED, S.CLOSED),
    *((s, S.CANCELLED) for s in (S.NEW, S.IN_PROGRESS, S.ON_HOLD)),
}


def test_every_status_change_is_in_the_design_table() -> None:
    seen: set[tuple[IncidentStatus, IncidentStatus]] = set()
    for status, op, role, reporter, visibility, hold in itertools.product(
        S, Op, Role, (False, True), Visibility, (None, *HoldReason)
    ):
        before = IncidentState(
            status=status,
            responded=status is not S.NEW,
            on_hold_reason=hold if status is S.ON_HOLD else None,
        )
        outcome = decide(
            before, Request(op, role, is_reporter=reporter, visibility=visibility, hold_reason=hold)
        )
        if isinstance(outcome, Step) and outcome.state.status is not status:
            seen.add((status, outcome.state.status))
    assert seen <= DESIGN_EDGES, sorted(seen - DESIGN_EDGES)
    # And every edge of the table is reachable.
    assert seen == DESIGN_EDGES


@pytest.mark.parametrize("terminal", [S.CLOSED, S.CANCELLED])
def test_terminal_statuses_accept_nothing_that_changes_them(terminal: IncidentStatus) -> None:
    for op, role in itertools.product(Op, Role):
        outcome = decide(IncidentState(status=terminal, responded=True), Request(op, role, is_reporter=True))
        if isinstance(outcome, Step):
            assert outcome.state.status is terminal, (op, role)
