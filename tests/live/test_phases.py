"""The bulletin phase machine and the worst-status rule: pure, property-tested."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.bulletins import phases
from domain.bulletins.phases import (
    FINAL_PHASES,
    PHASES,
    SEVERITY,
    BulletinKind,
    BulletinPhase,
    Declaration,
    ServiceStatus,
)
from domain.errors import ErrorCode

kinds = st.sampled_from(BulletinKind)
all_phases = st.sampled_from(BulletinPhase)
statuses = st.sampled_from(ServiceStatus)


def test_the_documented_walks_are_accepted() -> None:
    for kind, order in PHASES.items():
        for here, there in itertools.pairwise(order):
            assert phases.step_problem(kind, here, there) is None, (kind, here, there)


@given(kinds, all_phases, all_phases)
def test_a_step_goes_forward_or_stays_within_its_kind(
    kind: BulletinKind, here: BulletinPhase, there: BulletinPhase
) -> None:
    problem = phases.step_problem(kind, here, there, "phase")
    order = PHASES[kind]
    if there not in order:
        assert problem is not None and problem.code is ErrorCode.INVALID
        assert problem.field == ("phase",)
    elif here in FINAL_PHASES:
        assert problem is not None and problem.code is ErrorCode.INVALID_TRANSITION
    elif here in order and order.index(there) < order.index(here):
        assert problem is not None and problem.code is ErrorCode.INVALID_TRANSITION
    elif here in order:
        assert problem is None


@given(kinds, all_phases)
def test_a_bulletin_opens_in_a_non_final_phase_of_its_kind(kind: BulletinKind, phase: BulletinPhase) -> None:
    problem = phases.opening_problem(kind, phase)
    assert (problem is None) == (phase in PHASES[kind] and phase not in FINAL_PHASES)


@given(st.lists(statuses))
def test_worst_is_the_most_severe_and_operational_when_empty(values: list[ServiceStatus]) -> None:
    result = phases.worst(values)
    if not values:
        assert result is ServiceStatus.OPERATIONAL
    else:
        assert result in values
        assert all(SEVERITY[result] >= SEVERITY[v] for v in values)


@given(st.lists(statuses), st.lists(statuses))
def test_worst_is_order_free_and_monotonic(a: list[ServiceStatus], b: list[ServiceStatus]) -> None:
    assert phases.worst(a + b) is phases.worst(b + a)
    assert SEVERITY[phases.worst(a + b)] >= SEVERITY[phases.worst(a)]


SERVICES = [uuid.UUID(int=i) for i in range(1, 4)]

declarations = st.builds(
    Declaration,
    kind=kinds,
    phase=all_phases,
    published=st.booleans(),
    service_id=st.sampled_from(SERVICES),
    status=statuses,
)


@given(st.lists(declarations, max_size=12))
def test_a_service_status_counts_only_declaring_bulletins(decls: list[Declaration]) -> None:
    result = phases.service_statuses(SERVICES, decls)
    assert set(result) == set(SERVICES)
    for service in SERVICES:
        counted = [
            d.status
            for d in decls
            if d.service_id == service and phases.declares(d.kind, d.phase, d.published)
        ]
        assert result[service] is phases.worst(counted)


@given(kinds, all_phases, st.booleans())
def test_declaring_needs_published_and_active_and_a_started_window(
    kind: BulletinKind, phase: BulletinPhase, published: bool
) -> None:
    declares = phases.declares(kind, phase, published)
    if declares:
        assert published and phase not in FINAL_PHASES
        assert phases.is_active(published, phase)
    if kind is BulletinKind.MAINTENANCE and phase is BulletinPhase.SCHEDULED:
        assert not declares


NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
offsets = st.integers(min_value=-600, max_value=600).map(lambda m: NOW + timedelta(minutes=m))


@given(offsets, st.integers(min_value=1, max_value=600), st.sampled_from(PHASES[BulletinKind.MAINTENANCE]))
def test_a_maintenance_window_moves_by_itself_at_its_times(
    start: datetime, minutes: int, phase: BulletinPhase
) -> None:
    end = start + timedelta(minutes=minutes)
    due = phases.due_phase(BulletinKind.MAINTENANCE, phase, start, end, NOW)
    if phase is BulletinPhase.COMPLETED:
        assert due is None
    elif end <= NOW:
        assert due is BulletinPhase.COMPLETED
    elif phase is BulletinPhase.SCHEDULED and start <= NOW:
        assert due is BulletinPhase.IN_PROGRESS
    else:
        assert due is None
    if due is not None:
        assert phases.step_problem(BulletinKind.MAINTENANCE, phase, due) is None


@given(st.sampled_from([BulletinKind.INCIDENT, BulletinKind.INFORMATION]), all_phases, offsets)
def test_only_maintenance_moves_by_itself(kind: BulletinKind, phase: BulletinPhase, at: datetime) -> None:
    assert phases.due_phase(kind, phase, NOW - timedelta(hours=1), NOW - timedelta(minutes=1), at) is None
