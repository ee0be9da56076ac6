"""Story 1, a single user: a customer reports that login fails; an agent classifies it, comments
internally, fixes it and resolves it with FIXED; the customer confirms by closing it and rates the handling
5. The timeline tells the whole story in order, and the customer's version of it leaves out the internal
work."""

from __future__ import annotations

import pytest_asyncio

from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.incidents.practice import incident, ok, report, timeline


@pytest_asyncio.fixture(scope="module")
async def tokens(db: Database, settings: Settings) -> dict[str, str]:
    acme = await f.create_tenant(db, "acme", timezone="Europe/Berlin")
    await f.add_member(db, acme.id, "carol", Role.CUSTOMER)
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    return await f.mint_tokens(settings, db, "carol", "alice")


def test_a_customer_reports_login_failing_and_an_agent_fixes_it(
    live: f.LiveApp, tokens: dict[str, str]
) -> None:
    carol, alice = tokens["carol"], tokens["alice"]

    # The customer reports.
    reported = report(live, carol, "Login fails", "The portal answers 'invalid session' after I sign in.")
    incident_id = reported["id"]
    assert (reported["status"], reported["priority"], reported["reportedBy"]) == ("NEW", "P3", "carol")

    # The agent classifies, takes it on, looks into it (internally), and logs the time spent.
    classified = ok(
        live,
        alice,
        "classifyIncident",
        id=incident_id,
        expectedVersion=1,
        category="access",
        impact="MEDIUM",
        urgency="HIGH",
    )["incident"]
    assert (classified["priority"], classified["status"]) == ("P2", "NEW")
    acknowledged = ok(live, alice, "acknowledgeIncident", id=incident_id, expectedVersion=2)["incident"]
    assert acknowledged["status"] == "IN_PROGRESS" and acknowledged["respondedAt"] is not None
    ok(
        live,
        alice,
        "addComment",
        id=incident_id,
        body="SSO logs show expired signing certificates on idp-2.",
        visibility="INTERNAL",
    )
    ok(live, alice, "logWork", id=incident_id, minutes=25, note="rotated the certificate on idp-2")
    ok(live, alice, "addComment", id=incident_id, body="We found the cause and fixed it; please try again.")

    # The agent resolves it.
    resolved = ok(
        live,
        alice,
        "resolveIncident",
        id=incident_id,
        expectedVersion=6,
        code="FIXED",
        notes="Rotated the expired signing certificate of the identity provider.",
    )["incident"]
    assert resolved["status"] == "RESOLVED" and resolved["version"] == 7

    # The customer confirms and rates.
    closed = ok(live, carol, "closeIncident", id=incident_id, expectedVersion=7)["incident"]
    assert closed["status"] == "CLOSED"
    rated = ok(live, carol, "rateIncident", id=incident_id, score=5, comment="Fixed within the hour, thanks!")
    final = rated["incident"]
    assert final["satisfaction"] == {"score": 5, "comment": "Fixed within the hour, thanks!"}
    assert final["resolution"] == {
        "code": "FIXED",
        "notes": "Rotated the expired signing certificate of the identity provider.",
        "resolvedBy": "alice",
    }
    assert final["timeSpentMinutes"] == 25 and final["version"] == 9
    seen = incident(live, carol, incident_id, "reportedAt")
    assert seen is not None
    assert seen["reportedAt"] <= seen["respondedAt"] <= seen["resolvedAt"] <= seen["closedAt"]

    # The whole story, in order, as the agent reads it.
    story = [(e["kind"], e["visibility"], e["actor"]) for e in timeline(live, alice, incident_id)]
    assert story == [
        ("CREATED", "PUBLIC", "carol"),
        ("PRIORITY_CHANGED", "INTERNAL", "alice"),
        ("ACKNOWLEDGED", "PUBLIC", "alice"),
        ("COMMENTED", "INTERNAL", "alice"),
        ("WORK_LOGGED", "INTERNAL", "alice"),
        ("COMMENTED", "PUBLIC", "alice"),
        ("RESOLVED", "PUBLIC", "alice"),
        ("CLOSED", "PUBLIC", "carol"),
        ("RATED", "PUBLIC", "carol"),
    ]
    # And as the customer reads it: the same story without the internal work.
    customer_story = timeline(live, carol, incident_id)
    assert [(e["kind"], e["actor"]) for e in customer_story] == [
        ("CREATED", "carol"),
        ("ACKNOWLEDGED", "alice"),
        ("COMMENTED", "alice"),
        ("RESOLVED", "alice"),
        ("CLOSED", "carol"),
        ("RATED", "carol"),
    ]
    assert customer_story[2]["message"] == "We found the cause and fixed it; please try again."
    assert customer_story[5]["data"] == {"score": 5}
    assert "idp-2" not in " ".join(str(e["message"]) for e in customer_story)
