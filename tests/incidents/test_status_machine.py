"""The status machine, property-tested: random sequences of operations by random roles.

The incident is modelled as the use cases apply ``decide``: an accepted step replaces the state, appends its
one event and bumps the version; a refusal changes nothing. Whatever the sequence, the incident only takes
the transitions of DESIGN.md's table (written out again here, from the document, not from the code),
terminal states stay terminal, ``respondedAt`` is stamped once, and each status change is made by the
operation the table names for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import ErrorCode, Problem
from domain.incidents.enums import HoldReason, IncidentEventKind, IncidentStatus, Visibility
from domain.incidents.lifecycle import IncidentState, Operation, Request, Step, decide
from domain.tenancy.roles import Role

S = IncidentStatus
Op = Operation

# DESIGN.md, "Status transitions": (from, to) -> the operations that may take it.
DESIGN_TABLE: dict[tuple[IncidentStatus, IncidentStatus], frozenset[Operation]] = {
    (S.NEW, S.IN_PROGRESS): frozenset({Op.ACKNOWLEDGE, Op.ASSIGN, Op.COMMENT}),
    (S.IN_PROGRESS, S.ON_HOLD): frozenset({Op.PUT_ON_HOLD}),
    (S.ON_HOLD, S.IN_PROGRESS): frozenset({Op.RESUME, Op.COMMENT}),
    (S.NEW, S.RESOLVED): frozenset({Op.RESOLVE}),
    (S.IN_PROGRESS, S.RESOLVED): frozenset({Op.RESOLVE}),
    (S.ON_HOLD, S.RESOLVED): frozenset({Op.RESOLVE}),
    (S.RESOLVED, S.IN_PROGRESS): frozenset({Op.REOPEN}),
    (S.RESOLVED, S.CLOSED): frozenset({Op.CLOSE}),
    (S.NEW, S.CANCELLED): frozenset({Op.CANCEL}),
    (S.IN_PROGRESS, S.CANCELLED): frozenset({Op.CANCEL}),
    (S.ON_HOLD, S.CANCELLED): frozenset({Op.CANCEL}),
}
TERMINAL = {S.CLOSED, S.CANCELLED}
# What a CUSTOMER may ever have accepted, and only some of it when they reported the incident.
CUSTOMER_MAY = {Op.COMMENT, Op.CANCEL, Op.CLOSE, Op.REOPEN, Op.RATE}
REPORTER_ONLY = {Op.CANCEL, Op.CLOSE, Op.REOPEN, Op.RATE}


@dataclass
class Modelled:
    """An incident as the use cases keep it, reduced to what the machine reads and writes."""

    state: IncidentState = field(default_factory=lambda: IncidentState(status=S.NEW))
    version: int = 1
    events: list[IncidentEventKind] = field(default_factory=lambda: [IncidentEventKind.CREATED])
    responded_stamps: int = 0
    statuses: list[IncidentStatus] = field(default_factory=lambda: [S.NEW])


requests = st.builds(
    Request,
    operation=st.sampled_from(list(Operation)),
    role=st.sampled_from(list(Role)),
    is_reporter=st.booleans(),
    visibility=st.sampled_from(list(Visibility)),
    hold_reason=st.one_of(st.none(), st.sampled_from(list(HoldReason))),
    # Mostly people; now and then the service itself (auto-close, a parent's change flowing down).
    system=st.sampled_from([False, False, False, True]),
)
# Between operations the world may publish the incident's review (a fact decide reads for CLOSE).
steps = st.lists(st.tuples(requests, st.booleans()), min_size=1, max_size=40)


def apply(incident: Modelled, request: Request) -> Step | Problem:
    outcome = decide(incident.state, request)
    if isinstance(outcome, Step):
        incident.state = outcome.state
        incident.version += 1
        incident.events.append(outcome.event)
        incident.responded_stamps += int(outcome.responds)
        incident.statuses.append(outcome.state.status)
    return outcome


@settings(max_examples=400, deadline=None)
@given(steps)
def test_random_sequences_follow_the_design_table(sequence: list[tuple[Request, bool]]) -> None:
    incident = Modelled()
    for request, publish_review in sequence:
        if publish_review and incident.state.major:
            incident.state = replace(incident.state, review_published=True)
        before = incident.state
        version, events = incident.version, len(incident.events)
        outcome = apply(incident, request)
        if isinstance(outcome, Problem):
            # Refused: nothing written, nothing changed.
            assert (incident.state, incident.version, len(incident.events)) == (before, version, events)
            assert outcome.code in set(ErrorCode) and outcome.message
            continue
        # Accepted: exactly one event and one version more.
        assert incident.version == version + 1 and len(incident.events) == events + 1
        after = incident.state
        if after.status is not before.status:
            assert (before.status, after.status) in DESIGN_TABLE, (before.status, after.status, request)
            assert request.operation in DESIGN_TABLE[(before.status, after.status)], request
        assert before.status not in TERMINAL or after.status is before.status
        if outcome.responds:
            assert not before.responded and after.responded
        assert before.responded <= after.responded  # never un-responded
        if not request.system and request.role is Role.CUSTOMER:
            assert request.operation in CUSTOMER_MAY, request
            if request.operation in REPORTER_ONLY:
                assert request.is_reporter, request
            if request.operation is Op.COMMENT:
                assert request.visibility is Visibility.PUBLIC
        if request.operation is Op.RATE:
            assert not before.rated
            assert request.is_reporter or request.system
        if after.status is S.CLOSED and before.status is not S.CLOSED:
            assert not before.major or before.review_published
    assert incident.responded_stamps <= 1
    # Once terminal, the status never changes again.
    for index, status in enumerate(incident.statuses):
        if status in TERMINAL:
            assert set(incident.statuses[index:]) == {status}


@settings(max_examples=200, deadline=None)
@given(st.lists(requests, max_size=40))
def test_responded_at_is_stamped_once_at_most(sequence: list[Request]) -> None:
    incident = Modelled()
    for request in sequence:
        apply(incident, request)
    assert incident.responded_stamps == int(incident.state.responded)


def test_the_first_response_is_stamped_by_the_steps_of_the_table() -> None:
    new = IncidentState(status=S.NEW)
    agent = Role.AGENT
    for request in (
        Request(Op.ACKNOWLEDGE, agent),
        Request(Op.ASSIGN, agent),
        Request(Op.COMMENT, agent),
        Request(Op.RESOLVE, agent),
    ):
        outcome = decide(new, request)
        assert isinstance(outcome, Step) and outcome.responds, request
    internal = decide(new, Request(Op.COMMENT, agent, visibility=Visibility.INTERNAL))
    customer = decide(new, Request(Op.COMMENT, Role.CUSTOMER, is_reporter=True))
    cancel = decide(new, Request(Op.CANCEL, Role.CUSTOMER, is_reporter=True))
    for outcome in (internal, customer, cancel):
        assert isinstance(outcome, Step) and not outcome.responds


def test_a_major_incident_closes_only_with_a_published_review() -> None:
    resolved = IncidentState(status=S.RESOLVED, responded=True, major=True)
    refused = decide(resolved, Request(Op.CLOSE, Role.MANAGER))
    assert isinstance(refused, Problem) and refused.code is ErrorCode.INVALID_TRANSITION
    assert "review" in refused.message
    # Also for the system (auto-close).
    assert isinstance(decide(resolved, Request(Op.CLOSE, Role.MANAGER, system=True)), Problem)
    accepted = decide(replace(resolved, review_published=True), Request(Op.CLOSE, Role.AGENT))
    assert isinstance(accepted, Step) and accepted.state.status is S.CLOSED


def test_a_major_incident_is_declared_once() -> None:
    declared = decide(IncidentState(status=S.IN_PROGRESS), Request(Op.DECLARE_MAJOR, Role.MANAGER))
    assert isinstance(declared, Step) and declared.state.major
    again = decide(declared.state, Request(Op.DECLARE_MAJOR, Role.MANAGER))
    assert isinstance(again, Problem) and again.code is ErrorCode.INVALID_TRANSITION
    by_agent = decide(IncidentState(status=S.IN_PROGRESS), Request(Op.DECLARE_MAJOR, Role.AGENT))
    assert isinstance(by_agent, Problem) and by_agent.code is ErrorCode.FORBIDDEN


def test_system_work_skips_rights_but_not_the_table() -> None:
    closed = IncidentState(status=S.CLOSED, responded=True)
    for operation in Operation:
        outcome = decide(closed, Request(operation, Role.CUSTOMER, system=True))
        if isinstance(outcome, Step):
            assert outcome.state.status is S.CLOSED
            # Rating, and billing's corrections to the work log, which the billing month bounds instead.
            assert operation in (Op.RATE, Op.CORRECT_WORK, Op.WITHDRAW_WORK)
    resolved = decide(IncidentState(status=S.ON_HOLD), Request(Op.RESOLVE, Role.CUSTOMER, system=True))
    assert isinstance(resolved, Step) and resolved.state.status is S.RESOLVED
