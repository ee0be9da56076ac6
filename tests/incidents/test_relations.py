"""Related records over HTTP: linking children to a parent within a tenant (no cycles, no grandchildren, one
parent per child), the parent's changes flowing to its children as ServiceNow does it, unlinking, the
paginated ``children``, and every refusal writing nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest_asyncio
from sqlalchemy import Engine

from domain.db import Database
from domain.settings import Settings
from tests import factories as f
from tests.incidents.practice import World, call, incident, kinds, ok, refused, report, seed_world, timeline


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    return await seed_world(db, settings)


def family(live: f.LiveApp, world: World, size: int = 3) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A parent reported by alice and ``size`` children reported by carol, linked."""
    alice, carol = world.tokens["alice"], world.tokens["carol"]
    parent = report(live, alice, "Invoicing is down")
    children = [report(live, carol, f"cannot send invoice {n}") for n in range(size)]
    linked = ok(live, alice, "linkIncidents", parentId=parent["id"], childIds=[c["id"] for c in children])
    assert [c["id"] for c in linked["incidents"]] == [c["id"] for c in children]
    return parent, children


def statuses(live: f.LiveApp, token: str, ids: list[str]) -> list[str]:
    found = [incident(live, token, i) for i in ids]
    return [node["status"] if node else "UNSEEN" for node in found]


CHILDREN = """
query($id: ID!, $after: String) { node(id: $id) { ... on Incident {
  children(first: 2, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id parent { id } } } }
} } }
"""


def test_linking_records_one_event_each_and_children_paginate(live: f.LiveApp, world: World) -> None:
    alice, carol = world.tokens["alice"], world.tokens["carol"]
    parent, children = family(live, world, 3)
    assert kinds(live, alice, parent["id"])[-1] == "LINKED"
    parent_event = timeline(live, alice, parent["id"])[-1]
    assert parent_event["visibility"] == "INTERNAL" and len(parent_event["data"]["childIds"]) == 3
    for child in children:
        events = timeline(live, carol, child["id"])
        assert [e["kind"] for e in events] == ["CREATED", "LINKED"]
        node = incident(live, carol, child["id"], "parent { id number }")
        assert node is not None and node["parent"]["id"] == parent["id"] and node["version"] == 2
    first = live.gql_ok(alice, CHILDREN, {"id": parent["id"]})["node"]["children"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"] is True
    rest = live.gql_ok(alice, CHILDREN, {"id": parent["id"], "after": first["pageInfo"]["endCursor"]})
    second = rest["node"]["children"]
    assert second["pageInfo"] == {**second["pageInfo"], "hasNextPage": False, "hasPreviousPage": True}
    seen = [e["node"]["id"] for e in first["edges"] + second["edges"]]
    assert seen == [c["id"] for c in children]
    assert all(e["node"]["parent"]["id"] == parent["id"] for e in first["edges"] + second["edges"])


def test_in_progress_and_vendor_holds_flow_to_open_children(live: f.LiveApp, world: World) -> None:
    alice, carol = world.tokens["alice"], world.tokens["carol"]
    parent, children = family(live, world, 2)
    ids = [c["id"] for c in children]
    ok(live, alice, "acknowledgeIncident", id=parent["id"])
    assert statuses(live, alice, ids) == ["IN_PROGRESS", "IN_PROGRESS"]
    followed = timeline(live, carol, ids[0])[-1]
    assert (followed["kind"], followed["actor"], followed["data"]) == (
        "ACKNOWLEDGED",
        None,
        {"cascaded": True},
    )
    child = incident(live, carol, ids[0])
    assert child is not None and child["respondedAt"] is not None
    ok(live, alice, "putIncidentOnHold", id=parent["id"], reason="AWAITING_VENDOR")
    assert statuses(live, alice, ids) == ["ON_HOLD", "ON_HOLD"]
    held = incident(live, carol, ids[1])
    assert held is not None and held["onHoldReason"] == "AWAITING_VENDOR"
    ok(live, alice, "resumeIncident", id=parent["id"])
    assert statuses(live, alice, ids) == ["IN_PROGRESS", "IN_PROGRESS"]
    # Waiting for the customer is the parent's reporter's business: it does not flow.
    ok(live, alice, "putIncidentOnHold", id=parent["id"], reason="AWAITING_CUSTOMER")
    assert statuses(live, alice, ids) == ["IN_PROGRESS", "IN_PROGRESS"]


def test_public_staff_comments_are_copied_to_children(live: f.LiveApp, world: World) -> None:
    alice, carol = world.tokens["alice"], world.tokens["carol"]
    parent, children = family(live, world, 2)
    ok(live, alice, "addComment", id=parent["id"], body="we are on it", visibility="PUBLIC")
    ok(live, alice, "addComment", id=parent["id"], body="db03 looks bad", visibility="INTERNAL")
    ok(live, world.tokens["cody"], "addComment", id=parent["id"], body="me too")
    for child in children:
        events = timeline(live, alice, child["id"])
        copied = [e for e in events if e["kind"] == "COMMENTED"]
        assert [(e["message"], e["visibility"], e["actor"]) for e in copied] == [
            ("we are on it", "PUBLIC", None)
        ]
        # The staff comment was the parent's first response; the children follow it to IN_PROGRESS.
        assert statuses(live, carol, [child["id"]]) == ["IN_PROGRESS"]


def test_resolution_cascades_with_its_notes_and_closing_closes_the_resolved_children(
    live: f.LiveApp, world: World
) -> None:
    alice, carol = world.tokens["alice"], world.tokens["carol"]
    parent, children = family(live, world, 3)
    ids = [c["id"] for c in children]
    # One child is already closed on its own, one was cancelled: neither is touched.
    ok(live, alice, "resolveIncident", id=ids[0], code="USER_ERROR", notes="wrong account")
    ok(live, carol, "closeIncident", id=ids[0])
    ok(live, carol, "cancelIncident", id=ids[1], reason="duplicate of my other one")
    ok(
        live,
        alice,
        "resolveIncident",
        id=parent["id"],
        code="VENDOR_FIX",
        notes="the vendor patched the gateway",
    )
    assert statuses(live, alice, ids) == ["CLOSED", "CANCELLED", "RESOLVED"]
    resolved = incident(live, carol, ids[2])
    assert resolved is not None and resolved["resolution"] == {
        "code": "VENDOR_FIX",
        "notes": "the vendor patched the gateway",
        "resolvedBy": "alice",
    }
    assert timeline(live, carol, ids[2])[-1]["message"] == "the vendor patched the gateway"
    ok(live, alice, "closeIncident", id=parent["id"])
    assert statuses(live, alice, ids) == ["CLOSED", "CANCELLED", "CLOSED"]
    assert kinds(live, carol, ids[2])[-2:] == ["RESOLVED", "CLOSED"]


def test_closing_a_parent_leaves_open_children_alone(live: f.LiveApp, world: World) -> None:
    alice, carol = world.tokens["alice"], world.tokens["carol"]
    parent, children = family(live, world, 2)
    ids = [c["id"] for c in children]
    ok(live, alice, "resolveIncident", id=parent["id"], code="FIXED", notes="fixed")
    ok(live, carol, "reopenIncident", id=ids[0], reason="not for me")
    ok(live, alice, "closeIncident", id=parent["id"])
    assert statuses(live, alice, ids) == ["IN_PROGRESS", "CLOSED"]


def test_resolving_without_cascade_leaves_children_open(live: f.LiveApp, world: World) -> None:
    alice = world.tokens["alice"]
    parent, children = family(live, world, 2)
    ok(
        live,
        alice,
        "resolveIncident",
        id=parent["id"],
        code="FIXED",
        notes="only the parent",
        cascadeToChildren=False,
    )
    assert statuses(live, alice, [c["id"] for c in children]) == ["NEW", "NEW"]


def test_unlink_detaches_with_one_event_on_each_side(live: f.LiveApp, world: World) -> None:
    alice, carol = world.tokens["alice"], world.tokens["carol"]
    parent, children = family(live, world, 2)
    unlinked = ok(live, alice, "unlinkIncident", childId=children[0]["id"])["incident"]
    assert unlinked["version"] == 3
    node = incident(live, carol, children[0]["id"], "parent { id }")
    assert node is not None and node["parent"] is None
    assert kinds(live, carol, children[0]["id"])[-1] == "UNLINKED"
    assert kinds(live, alice, parent["id"])[-1] == "UNLINKED"
    remaining = live.gql_ok(alice, CHILDREN, {"id": parent["id"]})["node"]["children"]
    assert remaining["totalCount"] == 1
    # Detached, it no longer follows the parent.
    ok(live, alice, "resolveIncident", id=parent["id"], code="FIXED", notes="fixed")
    assert statuses(live, alice, [c["id"] for c in children]) == ["NEW", "RESOLVED"]
    # And may be linked again, elsewhere.
    other = report(live, alice, "another parent")
    ok(live, alice, "linkIncidents", parentId=other["id"], childIds=[children[0]["id"]])


# ---------------------------------------------------------------- refusals


def test_link_refusals(live: f.LiveApp, owner: Engine, world: World) -> None:
    alice, carol = world.tokens["alice"], world.tokens["carol"]
    parent, children = family(live, world, 1)
    child = children[0]
    loose = report(live, carol, "loose one")
    loose2 = report(live, carol, "loose two")
    other_parent = report(live, alice, "another parent")
    globex = report(live, world.tokens["gus"], "globex's")

    def link(code: str, field: list[str] | None, parent_id: str, *child_ids: str, token: str = alice) -> None:
        refused(
            live, owner, token, "linkIncidents", code, field, parentId=parent_id, childIds=list(child_ids)
        )

    link("INVALID", ["input", "childIds"], parent["id"])
    link("INVALID", ["input", "childIds", "1"], parent["id"], loose["id"], parent["id"])
    link("INVALID", ["input", "childIds", "1"], parent["id"], loose["id"], loose["id"])
    # One parent per child.
    link("INVALID", ["input", "childIds", "0"], other_parent["id"], child["id"])
    # No grandchildren: a child cannot become a parent, and a parent cannot become a child.
    link("INVALID", ["input", "parentId"], child["id"], loose["id"])
    link("INVALID", ["input", "childIds", "0"], other_parent["id"], parent["id"])
    # No cycles either way round.
    link("INVALID", ["input", "parentId"], child["id"], parent["id"])
    # Another tenant's incident is not found; the whole call writes nothing, not even the valid children.
    link("NOT_FOUND", ["input", "childIds", "1"], other_parent["id"], loose["id"], globex["id"])
    link("NOT_FOUND", ["input", "parentId"], f.encode_id("Incident", uuid.uuid4()), loose["id"])
    link("NOT_FOUND", ["input", "childIds", "0"], other_parent["id"], "garbage")
    link("FORBIDDEN", None, other_parent["id"], loose["id"], token=carol)
    ok(live, alice, "resolveIncident", id=loose2["id"], code="FIXED", notes="done")
    link("INVALID_TRANSITION", None, other_parent["id"], loose2["id"])
    many = [f.encode_id("Incident", uuid.uuid4()) for _ in range(101)]
    link("LIMIT_EXCEEDED", ["input", "childIds"], other_parent["id"], *many)


def test_link_within_a_tenant_only(live: f.LiveApp, owner: Engine, world: World) -> None:
    nina = world.tokens["nina"]  # staff at acme and at globex
    acme_parent = report(live, nina, "acme parent", tenant=world.tenant("acme"))
    globex_child = report(live, nina, "globex child", tenant=world.tenant("globex"))
    refused(
        live,
        owner,
        nina,
        "linkIncidents",
        "INVALID",
        ["input", "childIds", "0"],
        parentId=acme_parent["id"],
        childIds=[globex_child["id"]],
    )


def test_unlink_refusals(live: f.LiveApp, owner: Engine, world: World) -> None:
    alice, carol = world.tokens["alice"], world.tokens["carol"]
    parent, children = family(live, world, 2)
    loose = report(live, carol, "never linked")
    refused(live, owner, alice, "unlinkIncident", "INVALID", ["input", "childId"], childId=loose["id"])
    refused(live, owner, alice, "unlinkIncident", "INVALID", ["input", "childId"], childId=parent["id"])
    refused(live, owner, carol, "unlinkIncident", "FORBIDDEN", None, childId=children[0]["id"])
    globex = report(live, world.tokens["gus"], "globex's")
    refused(live, owner, alice, "unlinkIncident", "NOT_FOUND", ["input", "childId"], childId=globex["id"])
    ok(live, alice, "resolveIncident", id=children[1]["id"], code="FIXED", notes="fixed")
    ok(live, alice, "closeIncident", id=children[1]["id"])
    refused(live, owner, alice, "unlinkIncident", "INVALID_TRANSITION", None, childId=children[1]["id"])


def test_crossed_links_racing_each_other_queue_instead_of_deadlocking(live: f.LiveApp, world: World) -> None:
    # Two agents link A under B and B under A at the same moment: one wins, the other is told why.
    from concurrent.futures import ThreadPoolExecutor

    alice = world.tokens["alice"]
    for _ in range(5):
        a, b = report(live, alice, "crossed A"), report(live, alice, "crossed B")
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(
                pool.map(
                    lambda pair: call(live, alice, "linkIncidents", parentId=pair[0], childIds=[pair[1]]),
                    [(a["id"], b["id"]), (b["id"], a["id"])],
                )
            )
        accepted = [p for p in answers if not p["userErrors"]]
        assert len(accepted) == 1, answers
        [loser] = [p for p in answers if p["userErrors"]]
        assert loser["userErrors"][0]["code"] == "INVALID"


def test_every_malformed_id_of_an_input_is_reported_at_once(live: f.LiveApp, world: World) -> None:
    """The edge decodes the whole input before calling the use case: each bad ID answers its own
    NOT_FOUND at its own path, and nothing is called with a partial input."""
    alice = world.tokens["alice"]
    child = report(live, alice, "a lone child")
    payload = call(
        live,
        alice,
        "linkIncidents",
        parentId="garbage",
        childIds=[child["id"], f.encode_id("Service", uuid.uuid4())],
    )
    assert payload["incidents"] == []
    assert payload["userErrors"] == [
        {"field": ["input", "parentId"], "message": "incident not found", "code": "NOT_FOUND"},
        {"field": ["input", "childIds", "1"], "message": "incident not found", "code": "NOT_FOUND"},
    ]
    node = incident(live, alice, child["id"], "parent { id }")
    assert node is not None and node["parent"] is None
