"""Story 2, many users and one incident: ten customers report the same invoicing outage; an agent links all
ten to one parent and resolves the parent once; all ten children are RESOLVED with its notes, then CLOSED
with it."""

from __future__ import annotations

import pytest_asyncio

from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.incidents.practice import incident, kinds, ok, report, timeline

CUSTOMERS = [f"customer{n:02d}" for n in range(1, 11)]
NOTES = "The invoicing service's mail relay was restored; queued invoices have been sent."

CHILDREN = """
query($id: ID!) { node(id: $id) { ... on Incident {
  children(first: 20) { totalCount edges { node { id status reportedBy resolution { code notes } } } }
} } }
"""


@pytest_asyncio.fixture(scope="module")
async def tokens(db: Database, settings: Settings) -> dict[str, str]:
    acme = await f.create_tenant(db, "acme")
    for subject in CUSTOMERS:
        await f.add_member(db, acme.id, subject, Role.CUSTOMER)
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    return await f.mint_tokens(settings, db, "alice", *CUSTOMERS)


def test_ten_reports_one_parent_resolved_and_closed_centrally(
    live: f.LiveApp, tokens: dict[str, str]
) -> None:
    alice = tokens["alice"]
    reports = {
        who: report(
            live, tokens[who], "Cannot send invoices", f"{who}: sending an invoice fails with an error"
        )
        for who in CUSTOMERS
    }
    assert len({r["number"] for r in reports.values()}) == 10

    # The agent opens the parent and links all ten reports to it at once.
    parent = report(live, alice, "Invoicing outage", "Invoices cannot be sent by any customer.")
    children = ok(
        live, alice, "linkIncidents", parentId=parent["id"], childIds=[r["id"] for r in reports.values()]
    )["incidents"]
    assert [c["id"] for c in children] == [r["id"] for r in reports.values()]
    listed = live.gql_ok(alice, CHILDREN, {"id": parent["id"]})["node"]["children"]
    assert listed["totalCount"] == 10
    assert sorted(e["node"]["reportedBy"] for e in listed["edges"]) == CUSTOMERS

    # One resolution, once.
    ok(live, alice, "acknowledgeIncident", id=parent["id"])
    ok(live, alice, "resolveIncident", id=parent["id"], code="FIXED", notes=NOTES)
    listed = live.gql_ok(alice, CHILDREN, {"id": parent["id"]})["node"]["children"]
    assert {e["node"]["status"] for e in listed["edges"]} == {"RESOLVED"}
    assert {(e["node"]["resolution"]["code"], e["node"]["resolution"]["notes"]) for e in listed["edges"]} == {
        ("FIXED", NOTES)
    }

    # Closed once, centrally: every child closes with it.
    ok(live, alice, "closeIncident", id=parent["id"])
    for who, reported in reports.items():
        seen = incident(live, tokens[who], reported["id"])
        assert seen is not None
        assert (seen["status"], seen["resolution"]["notes"]) == ("CLOSED", NOTES), who
        assert kinds(live, tokens[who], reported["id"]) == [
            "CREATED",
            "LINKED",
            "ACKNOWLEDGED",
            "RESOLVED",
            "CLOSED",
        ]
        followed = timeline(live, tokens[who], reported["id"])[-2:]
        assert [e["actor"] for e in followed] == [None, None]
        assert followed[0]["message"] == NOTES
    assert kinds(live, alice, parent["id"]) == ["CREATED", "LINKED", "ACKNOWLEDGED", "RESOLVED", "CLOSED"]
