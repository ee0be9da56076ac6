"""Major incidents over HTTP: the declaration with its Incident Commander, the swarm, and ``affectTenants``
fanning a provider's outage out to customer tenants, whose customers see their own child and nothing of
the provider's internal work; and every refusal writing nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest_asyncio
from sqlalchemy import Engine

from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.incidents.practice import World, incident, kinds, ok, refused, report, seed_world, timeline


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    seeded = await seed_world(db, settings)
    # quinn works at the provider and is a mere customer at globex.
    await f.add_member(db, seeded.provider, "quinn", Role.AGENT)
    await f.add_member(db, seeded.globex, "quinn", Role.CUSTOMER)
    seeded.tokens["quinn"] = await f.mint_token(settings, db, "quinn")
    return seeded


def test_declaring_a_major_incident_names_its_commander(live: f.LiveApp, world: World) -> None:
    carol, mona = world.tokens["carol"], world.tokens["mona"]
    reported = report(live, carol, "Checkout down for everyone")
    declared = ok(live, mona, "declareMajorIncident", id=reported["id"], expectedVersion=1, commander="alice")
    found = declared["incident"]
    assert found["major"] is True and found["version"] == 2
    assert found["responders"] == [{"subject": "alice", "role": "COMMANDER"}]
    event = timeline(live, mona, reported["id"])[-1]
    assert (event["kind"], event["visibility"], event["data"]) == (
        "MAJOR_DECLARED",
        "INTERNAL",
        {"commander": "alice"},
    )
    seen = incident(live, carol, reported["id"])
    assert seen is not None and seen["major"] is True
    assert "MAJOR_DECLARED" not in kinds(live, carol, reported["id"])


def test_responders_build_the_swarm(live: f.LiveApp, world: World) -> None:
    alice, mona = world.tokens["alice"], world.tokens["mona"]
    reported = report(live, world.tokens["carol"], "Payments failing")
    ok(live, mona, "declareMajorIncident", id=reported["id"], commander="mona")
    ok(live, alice, "addResponder", id=reported["id"], subject="nina", role="TECHNICAL_LEAD")
    ok(live, alice, "addResponder", id=reported["id"], subject="alice", role="COMMUNICATIONS")
    changed = ok(live, mona, "addResponder", id=reported["id"], subject="nina", role="SCRIBE")["incident"]
    assert sorted((r["subject"], r["role"]) for r in changed["responders"]) == [
        ("alice", "COMMUNICATIONS"),
        ("mona", "COMMANDER"),
        ("nina", "SCRIBE"),
    ]
    assert changed["version"] == 5
    last = timeline(live, mona, reported["id"])[-1]
    assert last["kind"] == "RESPONDER_ADDED" and last["data"]["previousRole"] == "TECHNICAL_LEAD"
    # The swarm is the provider's internal work: the reporting customer sees the incident, not who works it.
    seen_by_customer = incident(live, world.tokens["carol"], reported["id"])
    assert seen_by_customer is not None and seen_by_customer["responders"] == []


def test_declare_and_responder_refusals(live: f.LiveApp, owner: Engine, world: World) -> None:
    alice, mona, carol = world.tokens["alice"], world.tokens["mona"], world.tokens["carol"]
    reported = report(live, carol, "Search broken")
    target = reported["id"]
    refused(live, owner, alice, "declareMajorIncident", "FORBIDDEN", None, id=target, commander="alice")
    refused(live, owner, carol, "declareMajorIncident", "FORBIDDEN", None, id=target, commander="alice")
    refused(
        live, owner, mona, "declareMajorIncident", "INVALID", ["input", "commander"], id=target, commander=" "
    )
    # The commander must be staff of the incident's tenant: carol is a customer, pete works elsewhere.
    for outsider in ("carol", "pete", "nobody"):
        refused(
            live,
            owner,
            mona,
            "declareMajorIncident",
            "INVALID",
            ["input", "commander"],
            id=target,
            commander=outsider,
        )
    refused(
        live,
        owner,
        mona,
        "declareMajorIncident",
        "CONFLICT",
        ["input", "expectedVersion"],
        id=target,
        expectedVersion=9,
        commander="alice",
    )
    refused(
        live,
        owner,
        world.tokens["gus"],
        "declareMajorIncident",
        "NOT_FOUND",
        ["input", "id"],
        id=target,
        commander="alice",
    )
    ok(live, mona, "declareMajorIncident", id=target, commander="alice")
    refused(
        live, owner, mona, "declareMajorIncident", "INVALID_TRANSITION", None, id=target, commander="mona"
    )

    def responder(code: str, field: list[str] | None, token: str = alice, **input: Any) -> None:
        refused(live, owner, token, "addResponder", code, field, id=target, **input)

    responder("INVALID", ["input", "role"], subject="nina", role="COMMANDER")
    responder("INVALID", ["input", "subject"], subject="alice", role="SCRIBE")  # the commander
    responder("INVALID", ["input", "subject"], subject="carol", role="SCRIBE")
    responder("INVALID", ["input", "subject"], subject="", role="SCRIBE")
    responder("FORBIDDEN", None, token=carol, subject="nina", role="SCRIBE")
    ok(live, alice, "addResponder", id=target, subject="nina", role="SCRIBE")
    responder("INVALID", ["input", "role"], subject="nina", role="SCRIBE")
    ok(live, alice, "resolveIncident", id=target, code="FIXED", notes="fixed")
    responder("INVALID_TRANSITION", None, subject="mona", role="SCRIBE")
    responder("NOT_FOUND", ["input", "id"], token=world.tokens["gus"], subject="mona", role="SCRIBE")


CHILD_VIEW = "parent { id } tenant { slug } title description timeline(first: 50) { edges { node { kind } } }"


def test_affect_tenants_fans_out_and_public_updates_flow(live: f.LiveApp, world: World) -> None:
    nina, pete = world.tokens["nina"], world.tokens["pete"]
    parent = report(
        live, nina, "Hypervisor cluster hv-7 down", "hv-7 lost quorum", tenant=world.tenant("provider")
    )
    ok(
        live,
        nina,
        "addComment",
        id=parent["id"],
        body="hv-7 quorum lost after the 02:00 patch",
        visibility="INTERNAL",
    )
    children = ok(
        live,
        nina,
        "affectTenants",
        id=parent["id"],
        tenants=["acme", world.tenant("globex")],
        publicTitle="Hosting platform outage",
        publicDescription="Some of your services are unavailable.",
    )["incidents"]
    assert len(children) == 2
    acme_child, globex_child = children
    for child in children:
        assert (child["status"], child["reportedBy"]) == ("NEW", "nina")
        assert child["number"].startswith("INC-")
    parent_event = timeline(live, nina, parent["id"])[-1]
    assert parent_event["kind"] == "LINKED" and parent_event["visibility"] == "INTERNAL"

    carol, gus = world.tokens["carol"], world.tokens["gus"]
    seen = incident(live, carol, acme_child["id"], CHILD_VIEW)
    assert seen is not None
    assert (seen["tenant"]["slug"], seen["title"], seen["parent"]) == (
        "acme",
        "Hosting platform outage",
        None,
    )
    assert seen["description"] == "Some of your services are unavailable."
    # The provider's incident and globex's child do not exist for acme's customer.
    assert incident(live, carol, parent["id"]) is None
    assert incident(live, carol, globex_child["id"]) is None
    assert incident(live, gus, acme_child["id"]) is None
    assert incident(live, gus, globex_child["id"]) is not None
    # Staff of both tenants see the parent.
    staff_view = incident(live, nina, acme_child["id"], "parent { id }")
    assert staff_view is not None and staff_view["parent"] == {"id": parent["id"]}

    # pete is staff of the provider only: his changes still reach the customers' children.
    ok(live, pete, "acknowledgeIncident", id=parent["id"])
    ok(live, pete, "addComment", id=parent["id"], body="we are restoring the cluster", visibility="PUBLIC")
    ok(
        live,
        pete,
        "addComment",
        id=parent["id"],
        body="rolling back the patch on hv-7",
        visibility="INTERNAL",
    )
    ok(live, pete, "escalateIncident", id=parent["id"], vendor="HyperCo", vendorTicket="HC-88", note="vendor")
    ok(live, pete, "putIncidentOnHold", id=parent["id"], reason="AWAITING_VENDOR", note="vendor fix due")
    ok(
        live,
        pete,
        "resolveIncident",
        id=parent["id"],
        code="VENDOR_FIX",
        notes="The vendor fixed the platform.",
    )
    for token, child in ((carol, acme_child), (gus, globex_child)):
        events = timeline(live, token, child["id"])
        assert [(e["kind"], e["actor"]) for e in events] == [
            ("CREATED", "nina"),
            ("ACKNOWLEDGED", None),
            ("COMMENTED", None),
            ("PUT_ON_HOLD", None),
            ("RESOLVED", None),
        ]
        assert events[2]["message"] == "we are restoring the cluster"
        assert events[4]["message"] == "The vendor fixed the platform."
        assert all(e["visibility"] == "PUBLIC" for e in events)
        messages = " ".join(str(e["message"]) + str(e["data"]) for e in events)
        assert "hv-7" not in messages and "HyperCo" not in messages
        node = incident(live, token, child["id"])
        assert node is not None and node["status"] == "RESOLVED"
        assert node["resolution"]["code"] == "VENDOR_FIX"
    # Even nina, staff of acme, finds no trace of the provider's internal notes on acme's child.
    assert all(e["visibility"] == "PUBLIC" for e in timeline(live, nina, acme_child["id"]))


def test_a_tenant_affected_later_starts_where_the_provider_stands(live: f.LiveApp, world: World) -> None:
    nina = world.tokens["nina"]
    parent = report(live, nina, "Storage array degraded", tenant=world.tenant("provider"))
    ok(live, nina, "acknowledgeIncident", id=parent["id"])
    ok(live, nina, "putIncidentOnHold", id=parent["id"], reason="AWAITING_CHANGE")
    child = ok(
        live,
        nina,
        "affectTenants",
        id=parent["id"],
        tenants=["initech"],
        publicTitle="Slow storage",
        publicDescription="Reads are slow.",
    )["incidents"][0]
    assert (child["status"], child["onHoldReason"], child["version"]) == ("ON_HOLD", "AWAITING_CHANGE", 3)
    assert child["respondedAt"] is not None
    assert kinds(live, world.tokens["ivy"], child["id"]) == ["CREATED", "ACKNOWLEDGED", "PUT_ON_HOLD"]


def test_affect_tenants_refusals(live: f.LiveApp, owner: Engine, world: World) -> None:
    nina, pete, quinn = world.tokens["nina"], world.tokens["pete"], world.tokens["quinn"]
    parent = report(live, nina, "Network flapping", tenant=world.tenant("provider"))
    target = parent["id"]
    text = {"publicTitle": "Network issues", "publicDescription": "Connections drop."}

    def affect(code: str, field: list[str] | None, token: str, tenants: list[str], **extra: Any) -> None:
        refused(
            live, owner, token, "affectTenants", code, field, id=target, tenants=tenants, **{**text, **extra}
        )

    affect("INVALID", ["input", "tenants"], nina, [])
    affect("INVALID", ["input", "tenants", "1"], nina, ["acme", "acme"])
    affect("INVALID", ["input", "tenants", "0"], nina, ["provider"])
    affect("INVALID", ["input", "publicTitle"], nina, ["acme"], publicTitle="  ")
    affect("INVALID", ["input", "publicDescription"], nina, ["acme"], publicDescription="")
    # pete is no member of acme: it answers like a tenant that does not exist.
    affect("NOT_FOUND", ["input", "tenants", "0"], pete, ["acme"])
    affect("NOT_FOUND", ["input", "tenants", "1"], nina, ["acme", "no-such-tenant"])
    affect("NOT_FOUND", ["input", "tenants", "0"], nina, [f.encode_id("Tenant", uuid.uuid4())])
    # quinn is only a customer at globex.
    affect("FORBIDDEN", ["input", "tenants", "0"], quinn, ["globex"])
    affect("LIMIT_EXCEEDED", ["input", "tenants"], nina, [f"t{n}" for n in range(101)])
    affect("NOT_FOUND", ["input", "id"], world.tokens["carol"], ["acme"])
    ok(live, nina, "affectTenants", id=target, tenants=["acme"], **text)
    affect("INVALID", ["input", "tenants", "0"], nina, ["acme"])
    # A customer's own incident cannot fan out; nor can a child, nor a resolved incident.
    own = report(live, world.tokens["carol"], "mine")
    refused(
        live,
        owner,
        world.tokens["carol"],
        "affectTenants",
        "FORBIDDEN",
        None,
        id=own["id"],
        tenants=["acme"],
        **text,
    )
    child = incident(live, nina, target, "children(first: 1) { edges { node { id } } }")
    assert child is not None
    child_id = child["children"]["edges"][0]["node"]["id"]
    refused(
        live,
        owner,
        nina,
        "affectTenants",
        "INVALID",
        ["input", "id"],
        id=child_id,
        tenants=["globex"],
        **text,
    )
    ok(live, nina, "resolveIncident", id=target, code="FIXED", notes="fixed")
    affect("INVALID_TRANSITION", None, nina, ["globex"])
