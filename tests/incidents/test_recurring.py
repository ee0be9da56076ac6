"""Recurring incidents: the grouping against a brute force on generated incidents, pg_trgm's similarity
on its documented example, and over HTTP, the groups and their referral to a problem."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.db import Database
from domain.incidents.recurring import SIMILAR, Candidate, RecurrenceReason, find_groups, similarity, trigrams
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.incidents.practice import World, seed_world

T0 = datetime(2026, 11, 1, tzinfo=UTC)
WORDS = ["mail", "down", "slow", "vpn", "login", "fails", "printer", "jammed", "again", "today", "x"]
SERVICES = [uuid.UUID(int=n) for n in range(1, 4)]


def test_similarity_is_pg_trgm_s() -> None:
    # pg_trgm's documentation: similarity('word', 'two words') is 0.363636.
    assert similarity(trigrams("word"), trigrams("two words")) == pytest.approx(4 / 11)
    assert trigrams("Mail-DOWN!") == trigrams("mail down") and similarity(frozenset(), frozenset()) == 0.0


candidates = st.lists(
    st.builds(
        Candidate,
        id=st.uuids(),
        title=st.lists(st.sampled_from(WORDS), min_size=0, max_size=4).map(" ".join),
        service_id=st.sampled_from([None, *SERVICES]),
        category=st.sampled_from([None, "network", "email"]),
        reported_at=st.integers(0, 10_000).map(lambda m: T0 + timedelta(minutes=m)),
    ),
    max_size=25,
    unique_by=lambda c: c.id,
)


def brute_force(found: list[Candidate]) -> set[tuple[RecurrenceReason, frozenset[uuid.UUID]]]:
    """Every pair compared, components grown one neighbour at a time."""
    groups = set()
    alike: dict[tuple[Any, Any], set[uuid.UUID]] = defaultdict(set)
    for c in found:
        if c.service_id is not None and c.category:
            alike[(c.service_id, c.category)].add(c.id)
    groups |= {
        (RecurrenceReason.SAME_SERVICE_AND_CATEGORY, frozenset(g)) for g in alike.values() if len(g) > 1
    }
    neighbours = {
        a.id: {
            b.id
            for b in found
            if b.id != a.id and similarity(trigrams(a.title), trigrams(b.title)) >= SIMILAR
        }
        for a in found
    }
    seen: set[uuid.UUID] = set()
    for c in found:
        if c.id in seen:
            continue
        component, frontier = {c.id}, [c.id]
        while frontier:
            for other in neighbours[frontier.pop()]:
                if other not in component:
                    component.add(other)
                    frontier.append(other)
        seen |= component
        if len(component) > 1:
            groups.add((RecurrenceReason.SIMILAR_TITLES, frozenset(component)))
    return groups


@settings(max_examples=300, deadline=None)
@given(candidates)
def test_the_groups_are_the_brute_force_s(found: list[Candidate]) -> None:
    groups = find_groups(found)
    assert {(g.reason, frozenset(g.incident_ids)) for g in groups} == brute_force(found)
    when = {c.id: (c.reported_at, c.id) for c in found}
    for group in groups:
        assert list(group.incident_ids) == sorted(group.incident_ids, key=when.__getitem__)  # oldest first
    assert [len(g.incident_ids) for g in groups] == sorted(
        (len(g.incident_ids) for g in groups), reverse=True
    )


# ---------------------------------------------------------------- over HTTP


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    return await seed_world(db, settings)


RECURRING = """
query($from: DateTime!, $to: DateTime!) {
  recurringIncidents(tenant: "acme", from: $from, to: $to) {
    reason category service { name } incidents { id title }
  }
}"""

REFER = """
mutation($input: ReferToProblemInput!) {
  referIncidentsToProblem(input: $input) {
    reviews { published actionItems { title problemRef } incident { id } }
    userErrors { field message code }
  }
}"""


async def test_recurring_groups_are_found_and_referred_to_a_problem(
    db: Database, live: f.LiveApp, world: World
) -> None:
    mona = f.actor("mona", {world.acme: Role.MANAGER})
    mail = await f.create_service(db, mona, world.acme, f"Recurring mail {uuid.uuid4().hex[:6]}")
    carol = f.actor("carol", {world.acme: Role.CUSTOMER})
    start = datetime.now(UTC) - timedelta(seconds=1)
    first = await f.report(db, carol, world.acme, "VPN login fails for the whole office")
    second = await f.report(db, carol, world.acme, "vpn login fails again")
    await f.report(db, carol, world.acme, "Printer jammed")
    q1 = await f.report(db, carol, world.acme, "Quota warning", service_id=mail.id, category="email")
    q2 = await f.report(
        db, carol, world.acme, "Cannot send attachments", service_id=mail.id, category="email"
    )
    window = {"from": start.isoformat(), "to": (datetime.now(UTC) + timedelta(minutes=1)).isoformat()}
    groups = live.gql_ok(world.tokens["alice"], RECURRING, window)["recurringIncidents"]
    titles = {g["reason"]: [i["title"] for i in g["incidents"]] for g in groups}
    assert titles["SIMILAR_TITLES"] == [first.title, second.title]
    assert titles["SAME_SERVICE_AND_CATEGORY"] == [q1.title, q2.title]
    same = next(g for g in groups if g["reason"] == "SAME_SERVICE_AND_CATEGORY")
    assert same["category"] == "email" and same["service"]["name"] == mail.name
    # Customers do not read problem candidates.
    refused = live.gql(world.tokens["carol"], RECURRING, window)
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]

    ids = [f.encode_id("Incident", first.id), f.encode_id("Incident", second.id)]
    for _ in range(2):  # referring again changes nothing
        payload = live.gql_ok(
            world.tokens["mona"], REFER, {"input": {"incidentIds": ids, "problemRef": "PRB-7"}}
        )
        answer = payload["referIncidentsToProblem"]
        assert answer["userErrors"] == []
        assert [r["incident"]["id"] for r in answer["reviews"]] == ids
        for review in answer["reviews"]:
            assert review["published"] is False
            assert review["actionItems"] == [
                {"title": "Recurring incident: see problem PRB-7", "problemRef": "PRB-7"}
            ]
    # An agent may not; nothing is written.
    payload = live.gql_ok(
        world.tokens["alice"], REFER, {"input": {"incidentIds": ids, "problemRef": "PRB-8"}}
    )
    assert [e["code"] for e in payload["referIncidentsToProblem"]["userErrors"]] == ["FORBIDDEN"]
    payload = live.gql_ok(world.tokens["mona"], REFER, {"input": {"incidentIds": ids, "problemRef": "PRB-7"}})
    assert all(len(r["actionItems"]) == 1 for r in payload["referIncidentsToProblem"]["reviews"])
