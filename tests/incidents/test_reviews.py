"""Incident reviews over HTTP: drafts by staff, publication by a MANAGER, action items with problem
references, a major incident held open until its review is published, and every refusal writing nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest_asyncio
from sqlalchemy import Engine

from domain.db import Database
from domain.settings import Settings
from tests import factories as f
from tests.incidents.practice import World, incident, ok, refused, report, seed_world

REVIEW_OF = "review { id summary published actionItems { title problemRef dueDate } }"


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    return await seed_world(db, settings)


def major_resolved(live: f.LiveApp, world: World, title: str) -> dict[str, Any]:
    reported = report(live, world.tokens["carol"], title)
    ok(live, world.tokens["mona"], "declareMajorIncident", id=reported["id"], commander="alice")
    ok(live, world.tokens["alice"], "resolveIncident", id=reported["id"], code="FIXED", notes="fixed")
    return reported


def test_a_major_incident_closes_once_its_review_is_published(
    live: f.LiveApp, owner: Engine, world: World
) -> None:
    alice, mona, carol = world.tokens["alice"], world.tokens["mona"], world.tokens["carol"]
    reported = major_resolved(live, world, "Orders lost for an hour")
    error = refused(live, owner, carol, "closeIncident", "INVALID_TRANSITION", None, id=reported["id"])
    assert "review is published" in error["message"]
    refused(live, owner, mona, "closeIncident", "INVALID_TRANSITION", None, id=reported["id"])

    draft = ok(
        live,
        alice,
        "saveIncidentReview",
        incidentId=reported["id"],
        summary="A queue consumer crashed and orders piled up.",
        rootCause="An unbounded retry loop exhausted memory.",
        whatWentWell="Detection within two minutes.",
        whatWentWrong="No runbook for the consumer.",
        actionItems=[
            {
                "title": "Bound the retries",
                "owner": "alice",
                "dueDate": "2026-12-31",
                "problemRef": "PRB-101",
            },
            {"title": "Write the runbook"},
        ],
    )["review"]
    assert draft["published"] is False and draft["incident"]["id"] == reported["id"]
    assert [(a["title"], a["problemRef"], a["dueDate"], a["done"]) for a in draft["actionItems"]] == [
        ("Bound the retries", "PRB-101", "2026-12-31", False),
        ("Write the runbook", None, None, False),
    ]
    # A draft does not open the way.
    refused(live, owner, mona, "closeIncident", "INVALID_TRANSITION", None, id=reported["id"])

    published = ok(
        live,
        mona,
        "saveIncidentReview",
        incidentId=reported["id"],
        summary="A queue consumer crashed and orders piled up.",
        rootCause="An unbounded retry loop exhausted memory.",
        actionItems=[{"title": "Bound the retries", "problemRef": "PRB-101"}],
        publish=True,
    )["review"]
    assert (published["id"], published["published"], published["publishedBy"]) == (draft["id"], True, "mona")
    assert len(published["actionItems"]) == 1
    closed = ok(live, carol, "closeIncident", id=reported["id"])["incident"]
    assert closed["status"] == "CLOSED"

    # Staff see the review on the incident and as a node; the customer sees neither.
    seen = incident(live, alice, reported["id"], REVIEW_OF)
    assert seen is not None and seen["review"]["published"] is True
    hidden = incident(live, carol, reported["id"], REVIEW_OF)
    assert hidden is not None and hidden["review"] is None
    node = "query($id: ID!) { node(id: $id) { ... on IncidentReview { summary incident { id } } } }"
    assert live.gql_ok(alice, node, {"id": draft["id"]})["node"]["incident"]["id"] == reported["id"]
    assert live.gql_ok(carol, node, {"id": draft["id"]})["node"] is None


def test_a_published_review_stays_published_and_is_changed_by_a_manager(
    live: f.LiveApp, owner: Engine, world: World
) -> None:
    alice, mona = world.tokens["alice"], world.tokens["mona"]
    reported = major_resolved(live, world, "DNS outage")
    ok(live, mona, "saveIncidentReview", incidentId=reported["id"], summary="first", publish=True)
    refused(
        live,
        owner,
        alice,
        "saveIncidentReview",
        "FORBIDDEN",
        None,
        incidentId=reported["id"],
        summary="edited",
    )
    edited = ok(live, mona, "saveIncidentReview", incidentId=reported["id"], summary="edited")["review"]
    assert (edited["summary"], edited["published"]) == ("edited", True)
    # Items not given are kept.
    assert edited["actionItems"] == []


def test_any_incident_may_have_a_review(live: f.LiveApp, world: World) -> None:
    reported = report(live, world.tokens["carol"], "Minor glitch")
    review = ok(live, world.tokens["alice"], "saveIncidentReview", incidentId=reported["id"], summary="s")[
        "review"
    ]
    assert review["published"] is False


def test_review_refusals(live: f.LiveApp, owner: Engine, world: World) -> None:
    alice, carol = world.tokens["alice"], world.tokens["carol"]
    reported = major_resolved(live, world, "Storage full")
    target = reported["id"]

    def save(code: str, field: list[str] | None, token: str = alice, **input: Any) -> None:
        refused(
            live,
            owner,
            token,
            "saveIncidentReview",
            code,
            field,
            **{"incidentId": target, "summary": "s", **input},
        )

    save("FORBIDDEN", ["input", "publish"], publish=True)
    save("FORBIDDEN", None, token=carol)
    save("NOT_FOUND", ["input", "incidentId"], token=world.tokens["gus"])
    save("NOT_FOUND", ["input", "incidentId"], incidentId=f.encode_id("Incident", uuid.uuid4()))
    save("NOT_FOUND", ["input", "incidentId"], incidentId="garbage")
    save("INVALID", ["input", "summary"], summary="  ")
    save(
        "INVALID",
        ["input", "actionItems", "1", "dueDate"],
        actionItems=[{"title": "a"}, {"title": "b", "dueDate": "soon"}],
    )
    save("INVALID", ["input", "actionItems", "0", "title"], actionItems=[{"title": ""}])
    save(
        "INVALID",
        ["input", "actionItems", "0", "problemRef"],
        actionItems=[{"title": "t", "problemRef": "p" * 101}],
    )
    save("LIMIT_EXCEEDED", ["input", "actionItems"], actionItems=[{"title": f"item {n}"} for n in range(51)])
