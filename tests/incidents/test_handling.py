"""Working an incident over HTTP with real tokens: hold and resume, workaround, escalation, resolution,
reopening, closure, cancellation, rating and the work log; and every refusal kind of each, which answers
one ``userErrors`` entry and writes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Engine

from domain.db import Database
from domain.settings import Settings
from tests import factories as f
from tests.incidents.practice import World, call, incident, kinds, ok, refused, report, seed_world, timeline


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    return await seed_world(db, settings)


@dataclass
class States:
    """Incidents reported by carol at acme, one per status, and one of globex's."""

    new: dict[str, Any]
    in_progress: dict[str, Any]
    on_hold: dict[str, Any]
    resolved: dict[str, Any]
    closed: dict[str, Any]
    cancelled: dict[str, Any]
    globex: dict[str, Any]


@pytest.fixture(scope="module")
def states(live: f.LiveApp, world: World) -> States:
    carol, alice = world.tokens["carol"], world.tokens["alice"]

    def at(status: str) -> dict[str, Any]:
        found = report(live, carol, f"an incident that is {status}")
        if status != "NEW":
            ok(live, alice, "acknowledgeIncident", id=found["id"])
        if status == "ON_HOLD":
            ok(live, alice, "putIncidentOnHold", id=found["id"], reason="AWAITING_CHANGE")
        if status in ("RESOLVED", "CLOSED"):
            ok(live, alice, "resolveIncident", id=found["id"], code="FIXED", notes="done")
        if status == "CLOSED":
            ok(live, alice, "closeIncident", id=found["id"])
        if status == "CANCELLED":
            ok(live, carol, "cancelIncident", id=found["id"], reason="my mistake")
        current = incident(live, alice, found["id"])
        assert current is not None and current["status"] == status
        return current

    return States(
        new=at("NEW"),
        in_progress=at("IN_PROGRESS"),
        on_hold=at("ON_HOLD"),
        resolved=at("RESOLVED"),
        closed=at("CLOSED"),
        cancelled=at("CANCELLED"),
        globex=report(live, world.tokens["gus"], "globex's own"),
    )


def test_hold_and_resume_with_one_event_and_one_version_each(live: f.LiveApp, world: World) -> None:
    carol, alice = world.tokens["carol"], world.tokens["alice"]
    reported = report(live, carol, "Printer on fire")
    acked = ok(live, alice, "acknowledgeIncident", id=reported["id"], expectedVersion=1)["incident"]
    held = ok(
        live,
        alice,
        "putIncidentOnHold",
        id=reported["id"],
        expectedVersion=acked["version"],
        reason="AWAITING_VENDOR",
        note="asked the printer vendor",
    )["incident"]
    assert (held["status"], held["onHoldReason"], held["version"]) == ("ON_HOLD", "AWAITING_VENDOR", 3)
    resumed = ok(live, alice, "resumeIncident", id=reported["id"], expectedVersion=3)["incident"]
    assert (resumed["status"], resumed["onHoldReason"], resumed["version"]) == ("IN_PROGRESS", None, 4)
    events = timeline(live, alice, reported["id"])
    assert [e["kind"] for e in events] == ["CREATED", "ACKNOWLEDGED", "PUT_ON_HOLD", "RESUMED"]
    assert events[2]["message"] == "asked the printer vendor"
    assert events[2]["data"] == {"reason": "AWAITING_VENDOR"}
    # The hold is the customer's business too: they see it.
    assert kinds(live, carol, reported["id"]) == ["CREATED", "ACKNOWLEDGED", "PUT_ON_HOLD", "RESUMED"]


def test_a_customer_answer_resumes_an_incident_awaiting_the_customer(live: f.LiveApp, world: World) -> None:
    carol, alice = world.tokens["carol"], world.tokens["alice"]
    reported = report(live, carol, "VPN drops")
    ok(live, alice, "acknowledgeIncident", id=reported["id"])
    ok(live, alice, "putIncidentOnHold", id=reported["id"], reason="AWAITING_CUSTOMER", note="which client?")
    event = ok(live, carol, "addComment", id=reported["id"], body="the Windows one")["event"]
    assert event["kind"] == "COMMENTED"
    assert event["incident"]["status"] == "IN_PROGRESS"
    after = incident(live, alice, reported["id"])
    assert after is not None and after["onHoldReason"] is None and after["version"] == 4
    assert timeline(live, alice, reported["id"])[-1]["data"] == {"resumed": True}


def test_a_customer_comment_does_not_resume_a_wait_for_the_vendor(live: f.LiveApp, world: World) -> None:
    carol, alice = world.tokens["carol"], world.tokens["alice"]
    reported = report(live, carol, "Invoices late")
    ok(live, alice, "acknowledgeIncident", id=reported["id"])
    ok(live, alice, "putIncidentOnHold", id=reported["id"], reason="AWAITING_VENDOR")
    event = ok(live, carol, "addComment", id=reported["id"], body="any news?")["event"]
    assert event["incident"]["status"] == "ON_HOLD"


def test_a_workaround_is_public(live: f.LiveApp, world: World) -> None:
    carol, alice = world.tokens["carol"], world.tokens["alice"]
    reported = report(live, carol, "Cannot print invoices")
    applied = ok(live, alice, "applyWorkaround", id=reported["id"], workaround="  print to PDF first  ")
    assert applied["incident"]["workaround"] == "print to PDF first"
    assert applied["incident"]["status"] == "NEW"  # a workaround is no response by itself
    seen = incident(live, carol, reported["id"])
    assert seen is not None and seen["workaround"] == "print to PDF first"
    assert kinds(live, carol, reported["id"]) == ["CREATED", "WORKAROUND_APPLIED"]


def test_functional_and_hierarchical_escalation(live: f.LiveApp, world: World) -> None:
    carol, alice = world.tokens["carol"], world.tokens["alice"]
    reported = report(live, carol, "Storage latency")
    ok(live, alice, "assignIncident", id=reported["id"], assignee="alice", assignmentGroup="service-desk")
    to_group = ok(
        live, alice, "escalateIncident", id=reported["id"], assignmentGroup="storage-l2", note="needs L2"
    )["incident"]
    # A new group picks its own assignee.
    assert (to_group["assignmentGroup"], to_group["assignee"]) == ("storage-l2", None)
    to_vendor = ok(
        live,
        alice,
        "escalateIncident",
        id=reported["id"],
        vendor="StorCo",
        vendorTicket="SC-4711",
        hierarchical=True,
        note="firmware bug suspected; managers informed",
    )["incident"]
    assert (to_vendor["vendor"], to_vendor["vendorTicket"], to_vendor["escalatedToManagers"]) == (
        "StorCo",
        "SC-4711",
        True,
    )
    events = timeline(live, alice, reported["id"])
    assert [e["kind"] for e in events][-2:] == ["ESCALATED", "ESCALATED"]
    assert events[-1]["visibility"] == "INTERNAL"
    assert events[-1]["data"]["hierarchical"] is True and events[-1]["data"]["vendorTicket"] == "SC-4711"
    # The customer sees neither the vendor nor the internal escalation.
    seen = incident(live, carol, reported["id"])
    assert seen is not None
    assert (seen["vendor"], seen["vendorTicket"], seen["escalatedToManagers"]) == (None, None, False)
    assert "ESCALATED" not in kinds(live, carol, reported["id"])
    # Managers find what was escalated to them.
    flagged = live.gql_ok(
        world.tokens["mona"],
        "{ incidents(first: 100, filter: {escalatedToManagers: true}) { edges { node { id } } } }",
    )["incidents"]["edges"]
    assert reported["id"] in [e["node"]["id"] for e in flagged]
    assert to_group["id"] == reported["id"]


def test_resolve_reopen_resolve_close(live: f.LiveApp, world: World) -> None:
    carol, alice = world.tokens["carol"], world.tokens["alice"]
    reported = report(live, carol, "Login fails")
    resolved = ok(
        live, alice, "resolveIncident", id=reported["id"], code="FIXED", notes="reset the SSO cache"
    )["incident"]
    assert resolved["status"] == "RESOLVED"
    assert resolved["resolution"] == {"code": "FIXED", "notes": "reset the SSO cache", "resolvedBy": "alice"}
    # Resolving an incident nobody acknowledged answers it too.
    assert resolved["respondedAt"] is not None and resolved["resolvedAt"] is not None
    reopened = ok(live, carol, "reopenIncident", id=reported["id"], reason="still failing")["incident"]
    assert (reopened["status"], reopened["resolution"], reopened["resolvedAt"]) == ("IN_PROGRESS", None, None)
    assert reopened["respondedAt"] == resolved["respondedAt"]
    ok(live, alice, "resolveIncident", id=reported["id"], code="WORKAROUND_APPLIED", notes="use the app")
    closed = ok(live, carol, "closeIncident", id=reported["id"])["incident"]
    assert closed["status"] == "CLOSED" and closed["closedAt"] is not None
    assert closed["resolution"]["code"] == "WORKAROUND_APPLIED"
    assert closed["version"] == 5
    assert kinds(live, carol, reported["id"]) == ["CREATED", "RESOLVED", "REOPENED", "RESOLVED", "CLOSED"]


def test_staff_closes_and_staff_reopens(live: f.LiveApp, world: World) -> None:
    carol, alice = world.tokens["carol"], world.tokens["alice"]
    reported = report(live, carol, "Slow search")
    ok(live, alice, "resolveIncident", id=reported["id"], code="NO_FAULT_FOUND", notes="fast for us")
    ok(live, alice, "reopenIncident", id=reported["id"], reason="customer called back")
    ok(live, alice, "resolveIncident", id=reported["id"], code="FIXED", notes="index rebuilt")
    assert ok(live, alice, "closeIncident", id=reported["id"])["incident"]["status"] == "CLOSED"


def test_the_reporter_cancels(live: f.LiveApp, world: World) -> None:
    carol = world.tokens["carol"]
    reported = report(live, carol, "Mouse broken")
    cancelled = ok(live, carol, "cancelIncident", id=reported["id"], reason="it was unplugged")["incident"]
    assert (cancelled["status"], cancelled["cancelReason"]) == ("CANCELLED", "it was unplugged")
    assert cancelled["closedAt"] is None and cancelled["resolution"] is None


def test_the_reporter_rates_once(live: f.LiveApp, owner: Engine, world: World) -> None:
    carol, alice = world.tokens["carol"], world.tokens["alice"]
    reported = report(live, carol, "Email bounced")
    ok(live, alice, "resolveIncident", id=reported["id"], code="USER_ERROR", notes="typo in the address")
    rated = ok(live, carol, "rateIncident", id=reported["id"], score=4, comment="quick")["incident"]
    assert rated["satisfaction"] == {"score": 4, "comment": "quick"}
    refused(live, owner, carol, "rateIncident", "INVALID_TRANSITION", id=reported["id"], score=5)
    # A closed incident may still be rated, once.
    other = report(live, carol, "Calendar sync")
    ok(live, alice, "resolveIncident", id=other["id"], code="FIXED", notes="resynced")
    ok(live, carol, "closeIncident", id=other["id"])
    assert ok(live, carol, "rateIncident", id=other["id"], score=5)["incident"]["satisfaction"]["score"] == 5
    assert kinds(live, carol, other["id"])[-1] == "RATED"


def test_work_log_sums_for_billing(live: f.LiveApp, world: World) -> None:
    carol, alice = world.tokens["carol"], world.tokens["alice"]
    reported = report(live, carol, "Backup failed")
    ok(live, alice, "logWork", id=reported["id"], minutes=30, note="checked the logs")
    logged = ok(live, alice, "logWork", id=reported["id"], minutes=15)["incident"]
    assert logged["timeSpentMinutes"] == 45 and logged["version"] == 3
    events = timeline(live, alice, reported["id"])
    assert [
        (e["kind"], e["visibility"], e["data"]["minutes"], e["data"]["billable"]) for e in events[1:]
    ] == [
        ("WORK_LOGGED", "INTERNAL", 30, True),
        ("WORK_LOGGED", "INTERNAL", 15, True),
    ]
    assert kinds(live, carol, reported["id"]) == ["CREATED"]


# ---------------------------------------------------------------- refusals, one test per kind

ABSENT = f.encode_id("Incident", uuid.UUID(int=7))


def _target(states: States, which: str) -> str:
    found: str = getattr(states, which)["id"]
    return found


NOT_FOUND_CASES = [
    ("putIncidentOnHold", {"reason": "AWAITING_VENDOR"}),
    ("resumeIncident", {}),
    ("applyWorkaround", {"workaround": "x"}),
    ("escalateIncident", {"assignmentGroup": "l2", "note": "n"}),
    ("resolveIncident", {"code": "FIXED", "notes": "n"}),
    ("reopenIncident", {"reason": "r"}),
    ("closeIncident", {}),
    ("cancelIncident", {"reason": "r"}),
    ("rateIncident", {"score": 3}),
    ("logWork", {"minutes": 5}),
]


@pytest.mark.parametrize(("name", "extra"), NOT_FOUND_CASES, ids=[c[0] for c in NOT_FOUND_CASES])
def test_not_found_for_absent_malformed_and_other_tenants_incidents(
    live: f.LiveApp, owner: Engine, world: World, states: States, name: str, extra: dict[str, Any]
) -> None:
    carol, alice = world.tokens["carol"], world.tokens["alice"]
    for token, target in ((alice, ABSENT), (alice, "not-an-id"), (carol, states.globex["id"])):
        error = refused(live, owner, token, name, "NOT_FOUND", ["input", "id"], id=target, **extra)
        assert error["message"] == "incident not found"


FORBIDDEN_CASES = [
    # Staff work, asked by the reporter herself.
    ("carol", "putIncidentOnHold", "in_progress", {"reason": "AWAITING_VENDOR"}),
    ("carol", "resumeIncident", "on_hold", {}),
    ("carol", "applyWorkaround", "in_progress", {"workaround": "reboot"}),
    ("carol", "escalateIncident", "in_progress", {"hierarchical": True, "note": "faster please"}),
    ("carol", "resolveIncident", "in_progress", {"code": "FIXED", "notes": "fixed itself"}),
    ("carol", "logWork", "in_progress", {"minutes": 5}),
    # The reporter's steps, asked by another customer of the tenant.
    ("cody", "closeIncident", "resolved", {}),
    ("cody", "reopenIncident", "resolved", {"reason": "not mine but still"}),
    ("cody", "cancelIncident", "new", {"reason": "not mine"}),
    ("cody", "rateIncident", "resolved", {"score": 1}),
    # Only the reporter rates, not even staff.
    ("alice", "rateIncident", "resolved", {"score": 5}),
    # A token that may only read.
    ("sam", "resolveIncident", "in_progress", {"code": "FIXED", "notes": "n"}),
]


@pytest.mark.parametrize(
    ("who", "name", "state", "extra"), FORBIDDEN_CASES, ids=[f"{c[0]}-{c[1]}" for c in FORBIDDEN_CASES]
)
def test_forbidden(
    live: f.LiveApp,
    owner: Engine,
    world: World,
    states: States,
    who: str,
    name: str,
    state: str,
    extra: dict[str, Any],
) -> None:
    refused(live, owner, world.tokens[who], name, "FORBIDDEN", id=_target(states, state), **extra)


CONFLICT_CASES = [
    ("putIncidentOnHold", "in_progress", {"reason": "AWAITING_VENDOR"}),
    ("resumeIncident", "on_hold", {}),
    ("applyWorkaround", "in_progress", {"workaround": "w"}),
    ("escalateIncident", "in_progress", {"assignmentGroup": "l2", "note": "n"}),
    ("resolveIncident", "in_progress", {"code": "FIXED", "notes": "n"}),
    ("closeIncident", "resolved", {}),
    ("cancelIncident", "new", {"reason": "r"}),
]


@pytest.mark.parametrize(("name", "state", "extra"), CONFLICT_CASES, ids=[c[0] for c in CONFLICT_CASES])
def test_conflict_on_a_stale_expected_version(
    live: f.LiveApp, owner: Engine, world: World, states: States, name: str, state: str, extra: dict[str, Any]
) -> None:
    target = getattr(states, state)
    refused(
        live,
        owner,
        world.tokens["alice"],
        name,
        "CONFLICT",
        ["input", "expectedVersion"],
        id=target["id"],
        expectedVersion=target["version"] - 1,
        **extra,
    )


TRANSITION_CASES = [
    ("putIncidentOnHold", "new", {"reason": "AWAITING_VENDOR"}),
    ("putIncidentOnHold", "on_hold", {"reason": "AWAITING_VENDOR"}),
    ("resumeIncident", "in_progress", {}),
    ("applyWorkaround", "resolved", {"workaround": "w"}),
    ("escalateIncident", "resolved", {"assignmentGroup": "l2", "note": "n"}),
    ("resolveIncident", "resolved", {"code": "FIXED", "notes": "n"}),
    ("reopenIncident", "in_progress", {"reason": "r"}),
    ("reopenIncident", "closed", {"reason": "r"}),
    ("closeIncident", "in_progress", {}),
    ("closeIncident", "cancelled", {}),
    ("cancelIncident", "resolved", {"reason": "r"}),
    ("cancelIncident", "closed", {"reason": "r"}),
    ("rateIncident", "in_progress", {"score": 3}),
    ("rateIncident", "cancelled", {"score": 3}),
    ("logWork", "closed", {"minutes": 5}),
    ("addComment", "closed", {"body": "hello?"}),
]


@pytest.mark.parametrize(
    ("name", "state", "extra"), TRANSITION_CASES, ids=[f"{c[0]}-{c[1]}" for c in TRANSITION_CASES]
)
def test_invalid_transition(
    live: f.LiveApp, owner: Engine, world: World, states: States, name: str, state: str, extra: dict[str, Any]
) -> None:
    # carol is the reporter, so reporter-only steps fail on the status alone; staff steps are asked by alice.
    who = "carol" if name in ("reopenIncident", "cancelIncident", "rateIncident") else "alice"
    refused(live, owner, world.tokens[who], name, "INVALID_TRANSITION", id=_target(states, state), **extra)


INVALID_CASES = [
    ("putIncidentOnHold", {"reason": "AWAITING_VENDOR", "note": "x" * 20_001}, ["input", "note"]),
    ("applyWorkaround", {"workaround": "   "}, ["input", "workaround"]),
    ("applyWorkaround", {"workaround": "NUL \u0000 inside"}, ["input", "workaround"]),
    ("escalateIncident", {"note": "nothing named"}, ["input", "assignmentGroup"]),
    ("escalateIncident", {"assignmentGroup": "l2", "note": " "}, ["input", "note"]),
    ("escalateIncident", {"vendorTicket": "T-1", "note": "ticket without vendor"}, ["input", "vendor"]),
    ("resolveIncident", {"code": "FIXED", "notes": ""}, ["input", "notes"]),
    ("reopenIncident", {"reason": " "}, ["input", "reason"]),
    ("cancelIncident", {"reason": ""}, ["input", "reason"]),
    ("rateIncident", {"score": 0}, ["input", "score"]),
    ("rateIncident", {"score": 6}, ["input", "score"]),
    ("logWork", {"minutes": 0}, ["input", "minutes"]),
    ("logWork", {"minutes": 1441}, ["input", "minutes"]),
]


@pytest.mark.parametrize(
    ("name", "extra", "field"), INVALID_CASES, ids=[f"{c[0]}-{c[2][-1]}" for c in INVALID_CASES]
)
def test_invalid_input(
    live: f.LiveApp,
    owner: Engine,
    world: World,
    states: States,
    name: str,
    extra: dict[str, Any],
    field: list[str],
) -> None:
    who = "carol" if name in ("reopenIncident", "cancelIncident", "rateIncident") else "alice"
    state = {"reopenIncident": "resolved", "rateIncident": "resolved"}.get(name, "in_progress")
    refused(live, owner, world.tokens[who], name, "INVALID", field, id=_target(states, state), **extra)


def test_text_with_a_nul_character_is_invalid_not_a_server_fault(
    live: f.LiveApp, owner: Engine, world: World
) -> None:
    refused(
        live,
        owner,
        world.tokens["carol"],
        "reportIncident",
        "INVALID",
        ["input", "title"],
        title="bad \u0000 title",
        description="d",
    )


def test_an_invalid_enum_is_a_malformed_request_not_a_user_error(live: f.LiveApp, world: World) -> None:
    body = live.gql(
        world.tokens["alice"],
        'mutation { putIncidentOnHold(input: {id: "x", reason: LUNCH}) { userErrors { code } } }',
    )
    assert body.get("data") is None and body["errors"]


def test_refusals_leave_the_states_untouched(live: f.LiveApp, world: World, states: States) -> None:
    for which in ("new", "in_progress", "on_hold", "resolved", "closed", "cancelled"):
        before = getattr(states, which)
        now = incident(live, world.tokens["alice"], before["id"])
        assert now is not None and (now["status"], now["version"]) == (before["status"], before["version"])


def test_payload_of_an_accepted_call_has_no_errors(live: f.LiveApp, world: World) -> None:
    reported = report(live, world.tokens["carol"], "A quick one")
    payload = call(
        live, world.tokens["alice"], "resolveIncident", id=reported["id"], code="FIXED", notes="ok"
    )
    assert payload["userErrors"] == [] and payload["incident"]["status"] == "RESOLVED"
