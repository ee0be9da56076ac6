"""Story 3, a major incident at a provider: a NOC agent logs a hypervisor outage in the provider's tenant;
a MANAGER declares it major with an Incident Commander; responders join; it is escalated to the vendor
with the vendor's ticket reference; ``affectTenants`` fans it out to three customer tenants; public
updates reach each customer's child; the resolution cascades; the review is published and the parent
closes, and the children with it. Each customer tenant sees only its own child, and nothing of the
provider's internal work."""

from __future__ import annotations

from dataclasses import dataclass

import pytest_asyncio

from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.incidents.practice import call, incident, kinds, ok, report, timeline

CUSTOMERS = {"acme": "carol", "globex": "gus", "initech": "ivy"}
PUBLIC_UPDATE = "Our hosting platform is partly unavailable. The vendor is deploying a fix."
RESOLUTION = "The vendor's firmware fix is deployed and every virtual machine is running again."

LIST = "{ incidents(first: 10) { totalCount edges { node { id title tenant { slug } parent { id } } } } }"


@dataclass
class Provider:
    tenants: dict[str, str]  # slug -> global ID
    tokens: dict[str, str]


@pytest_asyncio.fixture(scope="module")
async def provider(db: Database, settings: Settings) -> Provider:
    tenants = {slug: await f.create_tenant(db, slug) for slug in ("provider", *CUSTOMERS)}
    # The provider's people: nina works the NOC for every customer; the others are the provider's own.
    for slug in ("provider", *CUSTOMERS):
        await f.add_member(db, tenants[slug].id, "nina", Role.AGENT)
    for subject, role in (
        ("mona", Role.MANAGER),
        ("pete", Role.AGENT),
        ("sara", Role.AGENT),
        ("vic", Role.AGENT),
    ):
        await f.add_member(db, tenants["provider"].id, subject, role)
    for slug, subject in CUSTOMERS.items():
        await f.add_member(db, tenants[slug].id, subject, Role.CUSTOMER)
    tokens = await f.mint_tokens(settings, db, "nina", "mona", "pete", "sara", "vic", *CUSTOMERS.values())
    return Provider({slug: f.encode_id("Tenant", t.id) for slug, t in tenants.items()}, tokens)


def test_a_provider_outage_run_as_a_major_incident(live: f.LiveApp, provider: Provider) -> None:
    t = provider.tokens
    nina, mona, pete, sara, vic = t["nina"], t["mona"], t["pete"], t["sara"], t["vic"]

    # The NOC logs the outage in the provider's own tenant.
    outage = report(
        live,
        nina,
        "Hypervisor cluster hv-7 down",
        "hv-7 lost quorum after the 02:00 firmware update; 140 VMs are down.",
        tenant="provider",
        impact="HIGH",
        urgency="HIGH",
    )
    parent = outage["id"]
    assert (outage["priority"], outage["number"]) == ("P1", "INC-000001")
    ok(live, nina, "acknowledgeIncident", id=parent)
    ok(
        live,
        nina,
        "addComment",
        id=parent,
        body="hv-7-node3 panics in the storage driver",
        visibility="INTERNAL",
    )

    # A manager declares it major and names the Incident Commander; the swarm forms.
    declared = ok(live, mona, "declareMajorIncident", id=parent, commander="pete")["incident"]
    assert declared["major"] is True
    ok(live, pete, "addResponder", id=parent, subject="nina", role="TECHNICAL_LEAD")
    ok(live, pete, "addResponder", id=parent, subject="sara", role="COMMUNICATIONS")
    swarm = ok(live, pete, "addResponder", id=parent, subject="vic", role="VENDOR_LIAISON")["incident"]
    assert sorted((r["role"], r["subject"]) for r in swarm["responders"]) == [
        ("COMMANDER", "pete"),
        ("COMMUNICATIONS", "sara"),
        ("TECHNICAL_LEAD", "nina"),
        ("VENDOR_LIAISON", "vic"),
    ]

    # Escalated to the vendor, with its ticket, and to the managers; the provider waits for the vendor.
    escalated = ok(
        live,
        vic,
        "escalateIncident",
        id=parent,
        vendor="HyperCo",
        vendorTicket="HC-4711",
        hierarchical=True,
        note="Firmware defect suspected; HyperCo engaged under the premium contract.",
    )["incident"]
    assert (escalated["vendor"], escalated["vendorTicket"], escalated["escalatedToManagers"]) == (
        "HyperCo",
        "HC-4711",
        True,
    )
    ok(live, vic, "putIncidentOnHold", id=parent, reason="AWAITING_VENDOR", note="HyperCo is building a fix")

    # Three customer tenants are affected: one child each, with the public words only.
    children = ok(
        live,
        nina,
        "affectTenants",
        id=parent,
        tenants=[provider.tenants["acme"], "globex", "initech"],
        publicTitle="Hosting platform outage",
        publicDescription="Some of your virtual machines are unavailable. We are working on it.",
    )["incidents"]
    child = {slug: c for slug, c in zip(CUSTOMERS, children, strict=True)}
    for slug, found in child.items():
        assert (found["title"], found["status"], found["onHoldReason"]) == (
            "Hosting platform outage",
            "ON_HOLD",
            "AWAITING_VENDOR",
        ), slug

    # Public updates reach every customer; internal notes reach none.
    ok(live, sara, "addComment", id=parent, body=PUBLIC_UPDATE, visibility="PUBLIC")
    ok(live, nina, "addComment", id=parent, body="HC-4711: patch 7.0.3 on staging", visibility="INTERNAL")
    ok(live, vic, "resumeIncident", id=parent)
    ok(live, nina, "logWork", id=parent, minutes=240, note="night shift on hv-7")

    # The resolution cascades.
    ok(live, pete, "resolveIncident", id=parent, code="VENDOR_FIX", notes=RESOLUTION)
    for slug, found in child.items():
        seen = incident(live, t[CUSTOMERS[slug]], found["id"])
        assert seen is not None and seen["status"] == "RESOLVED", slug
        assert seen["resolution"]["notes"] == RESOLUTION

    # No closing before the review is published.
    early = call(live, pete, "closeIncident", id=parent)
    assert [e["code"] for e in early["userErrors"]] == ["INVALID_TRANSITION"]
    assert "review" in early["userErrors"][0]["message"]
    ok(
        live,
        pete,
        "saveIncidentReview",
        incidentId=parent,
        summary="A firmware defect in the storage driver took hv-7 down for four hours.",
        rootCause="HyperCo firmware 7.0.2 panics under sustained write load.",
        whatWentWell="Customers were informed within 20 minutes.",
        whatWentWrong="The firmware rollout had no canary.",
        actionItems=[
            {"title": "Canary every firmware rollout", "owner": "nina", "problemRef": "PRB-2041"},
            {"title": "Pin firmware until HyperCo certifies 7.0.3", "problemRef": "PRB-2042"},
        ],
    )
    published = ok(
        live,
        mona,
        "saveIncidentReview",
        incidentId=parent,
        summary="A firmware defect in the storage driver took hv-7 down for four hours.",
        rootCause="HyperCo firmware 7.0.2 panics under sustained write load.",
        publish=True,
    )["review"]
    assert published["published"] is True
    assert [a["problemRef"] for a in published["actionItems"]] == ["PRB-2041", "PRB-2042"]
    closed = ok(live, pete, "closeIncident", id=parent)["incident"]
    assert closed["status"] == "CLOSED"

    # The provider's view: the whole major incident, children included.
    assert kinds(live, nina, parent) == [
        "CREATED",
        "ACKNOWLEDGED",
        "COMMENTED",
        "MAJOR_DECLARED",
        "RESPONDER_ADDED",
        "RESPONDER_ADDED",
        "RESPONDER_ADDED",
        "ESCALATED",
        "PUT_ON_HOLD",
        "LINKED",
        "COMMENTED",
        "COMMENTED",
        "RESUMED",
        "WORK_LOGGED",
        "RESOLVED",
        "CLOSED",
    ]
    family = incident(
        live, nina, parent, "children(first: 5) { totalCount edges { node { tenant { slug } } } }"
    )
    assert family is not None and family["children"]["totalCount"] == 3

    # Each customer: only its own child, closed with the parent, and only public facts.
    for slug, subject in CUSTOMERS.items():
        token = t[subject]
        listing = live.gql_ok(token, LIST)["incidents"]
        assert listing["totalCount"] == 1, slug
        own = listing["edges"][0]["node"]
        assert (own["id"], own["tenant"]["slug"], own["parent"]) == (child[slug]["id"], slug, None)
        assert incident(live, token, parent) is None
        for other, found in child.items():
            if other != slug:
                assert incident(live, token, found["id"]) is None
        events = timeline(live, token, own["id"])
        assert [e["kind"] for e in events] == [
            "CREATED",
            "ACKNOWLEDGED",
            "PUT_ON_HOLD",
            "COMMENTED",
            "RESUMED",
            "RESOLVED",
            "CLOSED",
        ]
        assert events[3]["message"] == PUBLIC_UPDATE
        assert all(e["visibility"] == "PUBLIC" for e in events)
        words = " ".join(f"{e['message']} {e['data']}" for e in events)
        for secret in ("hv-7", "HC-4711", "HyperCo", "PRB-", "night shift"):
            assert secret not in words, (slug, secret)
        seen = incident(live, token, own["id"], "review { id } responders { subject }")
        assert seen is not None
        assert (seen["status"], seen["vendor"], seen["review"], seen["responders"]) == (
            "CLOSED",
            None,
            None,
            [],
        )
        assert seen["timeSpentMinutes"] == 0
