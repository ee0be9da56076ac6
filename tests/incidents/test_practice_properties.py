"""The use cases against the real database, property-tested: random sequences of operations by random
people on one incident. Every accepted operation writes exactly one timeline event and bumps ``version`` by
one; every refused one writes nothing at all; the status only ever moves along DESIGN.md's table and
``respondedAt`` is stamped once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from auth import Principal
from domain.billing import worklog
from domain.db import Database, create_database
from domain.errors import Refused
from domain.incidents import handling, major, reviews, service
from domain.incidents.enums import HoldReason, Impact, ResolutionCode, ResponderRole, Visibility
from domain.tenancy.roles import Role
from tests import factories as f
from tests.incidents.practice import fingerprint
from tests.incidents.test_status_machine import DESIGN_TABLE

PEOPLE = {"carol": Role.CUSTOMER, "cody": Role.CUSTOMER, "alice": Role.AGENT, "mona": Role.MANAGER}


@dataclass
class Setup:
    acme: uuid.UUID
    app_url: str
    people: dict[str, Principal]


@pytest_asyncio.fixture(scope="module")
async def setup(db: Database, test_db: Any) -> Setup:
    acme = await f.create_tenant(db, "acme")
    for subject, role in PEOPLE.items():
        await f.add_member(db, acme.id, subject, role)
    people = {subject: f.actor(subject, {acme.id: role}) for subject, role in PEOPLE.items()}
    return Setup(acme=acme.id, app_url=test_db.app_url, people=people)


Run = Callable[[Database, Principal, uuid.UUID, int | None], Awaitable[Any]]

OPERATIONS: dict[str, Run] = {
    "acknowledge": lambda db, who, i, v: service.acknowledge_incident(
        db, who, incident_id=i, expected_version=v
    ),
    "assign": lambda db, who, i, v: service.assign_incident(
        db, who, incident_id=i, expected_version=v, assignee="alice", assignment_group="desk"
    ),
    "classify": lambda db, who, i, v: service.classify_incident(
        db, who, incident_id=i, expected_version=v, change=service.Classification(impact=Impact.HIGH)
    ),
    "comment": lambda db, who, i, v: service.add_comment(
        db, who, incident_id=i, body="public words", visibility=Visibility.PUBLIC
    ),
    "note": lambda db, who, i, v: service.add_comment(
        db, who, incident_id=i, body="internal words", visibility=Visibility.INTERNAL
    ),
    "hold_customer": lambda db, who, i, v: handling.put_incident_on_hold(
        db, who, incident_id=i, expected_version=v, reason=HoldReason.AWAITING_CUSTOMER, note=None
    ),
    "hold_vendor": lambda db, who, i, v: handling.put_incident_on_hold(
        db, who, incident_id=i, expected_version=v, reason=HoldReason.AWAITING_VENDOR, note="vendor"
    ),
    "resume": lambda db, who, i, v: handling.resume_incident(db, who, incident_id=i, expected_version=v),
    "workaround": lambda db, who, i, v: handling.apply_workaround(
        db, who, incident_id=i, expected_version=v, workaround="restart it"
    ),
    "escalate": lambda db, who, i, v: handling.escalate_incident(
        db,
        who,
        incident_id=i,
        expected_version=v,
        escalation=handling.Escalation(note="l2", assignment_group="l2"),
    ),
    "resolve": lambda db, who, i, v: handling.resolve_incident(
        db, who, incident_id=i, expected_version=v, code=ResolutionCode.FIXED, notes="done"
    ),
    "reopen": lambda db, who, i, v: handling.reopen_incident(db, who, incident_id=i, reason="still broken"),
    "close": lambda db, who, i, v: handling.close_incident(db, who, incident_id=i, expected_version=v),
    "cancel": lambda db, who, i, v: handling.cancel_incident(
        db, who, incident_id=i, expected_version=v, reason="not an incident"
    ),
    "rate": lambda db, who, i, v: handling.rate_incident(db, who, incident_id=i, score=4, comment=None),
    "log_work": lambda db, who, i, v: worklog.log_work(db, who, incident_id=i, minutes=10),
    "declare_major": lambda db, who, i, v: major.declare_major_incident(
        db, who, incident_id=i, expected_version=v, commander="alice"
    ),
    "add_responder": lambda db, who, i, v: major.add_responder(
        db, who, incident_id=i, subject="mona", role=ResponderRole.SCRIBE
    ),
}
# Not an operation on the incident (no event, no version), but a fact closing a major incident reads.
PUBLISH_REVIEW = "publish_review"

moves = st.lists(
    st.tuples(
        st.sampled_from([*OPERATIONS, PUBLISH_REVIEW]),
        st.sampled_from(list(PEOPLE)),
        # Now and then a stale expectedVersion: CONFLICT, and nothing written.
        st.sampled_from([False, False, False, False, True]),
    ),
    min_size=1,
    max_size=14,
)


def _row(owner: Engine, incident_id: uuid.UUID) -> dict[str, Any]:
    with owner.connect() as connection:
        row = connection.execute(
            text(
                "SELECT status, version, responded_at,"
                " (SELECT count(*) FROM incident_events e WHERE e.incident_id = i.id) AS events"
                " FROM incidents i WHERE id = :id"
            ),
            {"id": incident_id},
        ).mappings()
        return dict(row.one())


async def _play(setup: Setup, owner: Engine, sequence: list[tuple[str, str, bool]]) -> dict[str, Any]:
    db = create_database(setup.app_url, pool_size=2)
    try:
        people = setup.people
        reported = await f.report(db, people["carol"], setup.acme, "Random walk", "property test")
        for name, who, stale in sequence:
            before = _row(owner, reported.id)
            everything = fingerprint(owner)
            version = before["version"] - 1 if stale else None
            try:
                if name == PUBLISH_REVIEW:
                    await reviews.save_incident_review(
                        db,
                        people[who],
                        reviews.ReviewSpec(incident_id=reported.id, summary="s", publish=True),
                    )
                    continue
                await OPERATIONS[name](db, people[who], reported.id, version)
            except Refused:
                assert fingerprint(owner) == everything, f"refused {name} by {who} wrote something"
                continue
            assert not stale or name in ("comment", "note", "reopen", "rate", "log_work", "add_responder")
            after = _row(owner, reported.id)
            assert after["version"] == before["version"] + 1, (name, who)
            assert after["events"] == before["events"] + 1, (name, who)
            if after["status"] != before["status"]:
                assert (before["status"], after["status"]) in DESIGN_TABLE, (name, before, after)
            if before["responded_at"] is not None:
                assert after["responded_at"] == before["responded_at"], "respondedAt was stamped twice"
        return _row(owner, reported.id)
    finally:
        await db.dispose()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=moves)
def test_random_walks_write_one_event_per_accepted_step_and_nothing_per_refusal(
    setup: Setup, owner: Engine, sequence: list[tuple[str, str, bool]]
) -> None:
    asyncio.run(_play(setup, owner, sequence))


def test_walks_through_the_whole_table(setup: Setup, owner: Engine) -> None:
    """Fixed walks that take every transition of the table at least once, and end where they should."""
    walks: list[tuple[list[tuple[str, str]], str, int]] = [
        (
            [
                ("acknowledge", "alice"),
                ("hold_vendor", "alice"),
                ("resume", "alice"),
                ("resolve", "alice"),
                ("reopen", "carol"),
                ("resolve", "alice"),
                ("close", "carol"),
                ("rate", "carol"),
            ],
            "CLOSED",
            9,
        ),
        ([("resolve", "alice")], "RESOLVED", 2),
        (
            [
                ("declare_major", "mona"),
                ("resolve", "alice"),
                ("close", "mona"),  # refused: no published review yet
                ("publish_review", "mona"),
                ("close", "mona"),
            ],
            "CLOSED",
            4,
        ),
        ([("cancel", "carol")], "CANCELLED", 2),
        ([("comment", "alice"), ("cancel", "alice")], "CANCELLED", 3),
        (
            [
                ("acknowledge", "alice"),
                ("hold_customer", "alice"),
                ("comment", "carol"),
                ("hold_customer", "alice"),
            ],
            "ON_HOLD",
            5,
        ),
        ([("acknowledge", "alice"), ("hold_vendor", "alice"), ("cancel", "mona")], "CANCELLED", 4),
        ([("cancel", "cody"), ("close", "alice"), ("reopen", "alice")], "NEW", 1),
    ]
    for walk, status, version in walks:
        end = asyncio.run(_play(setup, owner, [(name, who, False) for name, who in walk]))
        assert (end["status"], end["version"]) == (status, version), walk
