"""Incident models over HTTP: creating and listing them, the first matching model applied on report
(classification defaults, group, workaround, its tasks as the checklist, recorded as MODEL_APPLIED),
applying one by hand, ticking tasks, and every refusal writing nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Engine

from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.incidents.practice import World, call, incident, ok, refused, report, seed_world, timeline


@dataclass
class Setting:
    world: World
    payments: str  # a service of acme
    globex_service: str


@pytest_asyncio.fixture(scope="module")
async def setting(db: Database, settings: Settings) -> Setting:
    world = await seed_world(db, settings)
    payments = await f.create_service(db, f.actor("mona", {world.acme: Role.MANAGER}), world.acme, "Payments")
    await f.add_member(db, world.globex, "gloria", Role.MANAGER)
    other = await f.create_service(db, f.actor("gloria", {world.globex: Role.MANAGER}), world.globex, "Mail")
    world.tokens["gloria"] = await f.mint_token(settings, db, "gloria")
    return Setting(world, f.encode_id("Service", payments.id), f.encode_id("Service", other.id))


@pytest.fixture(scope="module")
def world(setting: Setting) -> World:
    return setting.world


@pytest.fixture(scope="module")
def models(live: f.LiveApp, setting: Setting) -> dict[str, dict[str, Any]]:
    mona = setting.world.tokens["mona"]
    login = ok(
        live,
        mona,
        "createIncidentModel",
        tenant="acme",
        name="Login failures",
        description="Customers cannot sign in",
        matchKeywords=["login", "sign in"],
        category="access",
        impact="HIGH",
        urgency="MEDIUM",
        assignmentGroup="identity",
        workaround="Sign in with the mobile app meanwhile.",
        tasks=["Check the SSO provider's status", "Clear the session cache"],
    )["model"]
    payments = ok(
        live,
        mona,
        "createIncidentModel",
        tenant="acme",
        name="Payments",
        matchServiceId=setting.payments,
        category="payments",
        assignmentGroup="payments-team",
        tasks=["Check the PSP dashboard"],
    )["model"]
    manual = ok(
        live, mona, "createIncidentModel", tenant="acme", name="Data restore", tasks=["Find the backup"]
    )["model"]
    # Younger and also about logins: the older model wins.
    late = ok(
        live, mona, "createIncidentModel", tenant="acme", name="Late login model", matchKeywords=["LOGIN"]
    )["model"]
    return {"login": login, "payments": payments, "manual": manual, "late": late}


QUERY = "query($tenant: ID) { incidentModels(tenant: $tenant) { id name tenant { slug } } }"


def test_models_are_created_and_listed_for_staff_only(
    live: f.LiveApp, world: World, models: dict[str, dict[str, Any]], setting: Setting
) -> None:
    login = models["login"]
    assert login["matchKeywords"] == ["login", "sign in"]
    assert (login["impact"], login["urgency"], login["assignmentGroup"]) == ("HIGH", "MEDIUM", "identity")
    assert login["tasks"] == ["Check the SSO provider's status", "Clear the session cache"]
    assert login["tenant"] == {"slug": "acme"}
    assert models["payments"]["matchService"]["id"] == setting.payments
    names = [m["name"] for m in live.gql_ok(world.tokens["alice"], QUERY)["incidentModels"]]
    assert names == ["Login failures", "Payments", "Data restore", "Late login model"]
    assert live.gql_ok(world.tokens["carol"], QUERY)["incidentModels"] == []
    # nina is staff at every customer: the tenant argument narrows.
    assert len(live.gql_ok(world.tokens["nina"], QUERY)["incidentModels"]) == 4
    assert live.gql_ok(world.tokens["nina"], QUERY, {"tenant": "globex"})["incidentModels"] == []
    node = "query($id: ID!) { node(id: $id) { ... on IncidentModel { name } } }"
    assert live.gql_ok(world.tokens["alice"], node, {"id": login["id"]})["node"] == {"name": "Login failures"}
    assert live.gql_ok(world.tokens["carol"], node, {"id": login["id"]})["node"] is None
    assert live.gql_ok(world.tokens["gus"], node, {"id": login["id"]})["node"] is None


def test_the_first_matching_model_is_applied_on_report(
    live: f.LiveApp, world: World, models: dict[str, dict[str, Any]]
) -> None:
    carol, alice = world.tokens["carol"], world.tokens["alice"]
    reported = report(live, carol, "Login fails on the portal", "since this morning")
    found = incident(live, alice, reported["id"])
    assert found is not None
    assert found["model"] == {"id": models["login"]["id"], "name": "Login failures"}
    assert (found["category"], found["impact"], found["urgency"], found["priority"]) == (
        "access",
        "HIGH",
        "MEDIUM",
        "P2",
    )
    assert (found["assignmentGroup"], found["workaround"]) == (
        "identity",
        "Sign in with the mobile app meanwhile.",
    )
    assert [t["title"] for t in found["tasks"]] == [
        "Check the SSO provider's status",
        "Clear the session cache",
    ]
    assert all(not t["done"] for t in found["tasks"])
    assert (found["status"], found["version"]) == ("NEW", 2)
    events = timeline(live, alice, reported["id"])
    assert [(e["kind"], e["visibility"], e["actor"]) for e in events] == [
        ("CREATED", "PUBLIC", "carol"),
        ("MODEL_APPLIED", "INTERNAL", None),
    ]
    assert events[1]["data"]["model"] == "Login failures"
    # The customer sees the workaround and the checklist, not the playbook.
    seen = incident(live, carol, reported["id"])
    assert seen is not None and seen["model"] is None
    assert [e["kind"] for e in timeline(live, carol, reported["id"])] == ["CREATED"]


def test_what_the_reporter_gave_wins_over_the_models_defaults(
    live: f.LiveApp, world: World, models: dict[str, dict[str, Any]]
) -> None:
    reported = report(live, world.tokens["carol"], "Cannot sign in", impact="LOW", category="my-category")
    found = incident(live, world.tokens["alice"], reported["id"])
    assert found is not None and found["model"]["name"] == "Login failures"
    assert (found["impact"], found["urgency"], found["category"]) == ("LOW", "MEDIUM", "my-category")
    assert found["priority"] == "P4"


def test_service_rules_match_and_keywords_match_whole_words(
    live: f.LiveApp, world: World, models: dict[str, dict[str, Any]], setting: Setting
) -> None:
    alice = world.tokens["alice"]
    paid = report(live, world.tokens["carol"], "Card declined", serviceId=setting.payments)
    found = incident(live, alice, paid["id"])
    assert found is not None and found["model"]["name"] == "Payments"
    assert found["assignmentGroup"] == "payments-team"
    blog = report(live, world.tokens["carol"], "The blogging tool is down")
    unmatched = incident(live, alice, blog["id"])
    assert unmatched is not None and unmatched["model"] is None and unmatched["tasks"] == []
    assert unmatched["version"] == 1


def test_applying_a_model_by_hand_and_ticking_its_tasks(
    live: f.LiveApp, world: World, models: dict[str, dict[str, Any]]
) -> None:
    alice, carol = world.tokens["alice"], world.tokens["carol"]
    reported = report(live, carol, "Lost a spreadsheet", impact="HIGH")
    applied = ok(live, alice, "applyIncidentModel", id=reported["id"], modelId=models["manual"]["id"])[
        "incident"
    ]
    assert applied["model"]["name"] == "Data restore" and applied["version"] == 2
    assert [t["title"] for t in applied["tasks"]] == ["Find the backup"]
    assert applied["impact"] == "HIGH"  # the model sets no impact
    # Another model by hand: its tasks are added after the first ones.
    again = ok(live, alice, "applyIncidentModel", id=reported["id"], modelId=models["login"]["id"])[
        "incident"
    ]
    assert [t["title"] for t in again["tasks"]] == [
        "Find the backup",
        "Check the SSO provider's status",
        "Clear the session cache",
    ]
    assert again["category"] == "access"
    task = again["tasks"][0]["id"]
    ticked = ok(live, alice, "setTask", taskId=task, done=True)["incident"]
    assert [t["done"] for t in ticked["tasks"]] == [True, False, False] and ticked["version"] == 4
    event = timeline(live, alice, reported["id"])[-1]
    assert (event["kind"], event["visibility"], event["message"]) == (
        "TASK_UPDATED",
        "INTERNAL",
        "Find the backup",
    )
    assert event["data"]["done"] is True
    unticked = ok(live, alice, "setTask", taskId=task, done=False)["incident"]
    assert unticked["tasks"][0]["done"] is False
    # The checklist is the provider's internal work: the customer sees the incident, not its tasks.
    seen = incident(live, carol, reported["id"])
    assert seen is not None and seen["tasks"] == []


def test_model_refusals(live: f.LiveApp, owner: Engine, world: World, setting: Setting, models: Any) -> None:
    mona, alice, carol = world.tokens["mona"], world.tokens["alice"], world.tokens["carol"]

    def create(code: str, field: list[str] | None, token: str = mona, **input: Any) -> None:
        refused(
            live, owner, token, "createIncidentModel", code, field, **{"tenant": "acme", "name": "N", **input}
        )

    create("FORBIDDEN", None, token=alice)
    create("FORBIDDEN", None, token=carol)
    create("INVALID", ["input", "name"], name="  ")
    create("INVALID", ["input", "name"], name="Login failures")
    create("INVALID", ["input", "matchKeywords", "1"], matchKeywords=["vpn", " "])
    create("INVALID", ["input", "matchKeywords", "1"], matchKeywords=["vpn", "VPN"])
    create("INVALID", ["input", "tasks", "0"], tasks=[""])
    create("LIMIT_EXCEEDED", ["input", "tasks"], tasks=[f"task {n}" for n in range(51)])
    create("NOT_FOUND", ["input", "matchServiceId"], matchServiceId=setting.globex_service)
    create("NOT_FOUND", ["input", "matchServiceId"], matchServiceId="nonsense")
    create("NOT_FOUND", ["input", "tenant"], tenant="globex")
    refused(
        live, owner, world.tokens["nina"], "createIncidentModel", "INVALID", ["input", "tenant"], name="N"
    )
    # A duplicate of another tenant's name is fine there.
    globex_model = ok(
        live, world.tokens["gloria"], "createIncidentModel", tenant="globex", name="Login failures"
    )

    reported = report(live, carol, "Printer jam")
    target = reported["id"]

    def apply(code: str, field: list[str] | None, model: str, token: str = alice) -> None:
        refused(live, owner, token, "applyIncidentModel", code, field, id=target, modelId=model)

    apply("NOT_FOUND", ["input", "modelId"], globex_model["model"]["id"])
    apply("NOT_FOUND", ["input", "modelId"], f.encode_id("IncidentModel", uuid.uuid4()))
    apply("NOT_FOUND", ["input", "modelId"], target)  # an incident's ID is no model's
    apply("FORBIDDEN", None, models["manual"]["id"], token=carol)
    refused(
        live,
        owner,
        alice,
        "applyIncidentModel",
        "NOT_FOUND",
        ["input", "id"],
        id=f.encode_id("Incident", uuid.uuid4()),
        modelId=models["manual"]["id"],
    )
    ok(live, alice, "applyIncidentModel", id=target, modelId=models["manual"]["id"])
    apply("INVALID", ["input", "modelId"], models["manual"]["id"])
    task = incident(live, alice, target)["tasks"][0]["id"]  # type: ignore[index]
    # To a customer a task answers like one that does not exist: she does not see the checklist.
    refused(live, owner, carol, "setTask", "NOT_FOUND", ["input", "taskId"], taskId=task, done=True)
    refused(
        live, owner, world.tokens["gus"], "setTask", "NOT_FOUND", ["input", "taskId"], taskId=task, done=True
    )
    refused(
        live,
        owner,
        alice,
        "setTask",
        "NOT_FOUND",
        ["input", "taskId"],
        taskId=f.encode_id("IncidentTask", uuid.uuid4()),
        done=True,
    )
    ok(live, alice, "resolveIncident", id=target, code="FIXED", notes="unjammed")
    ok(live, carol, "closeIncident", id=target)
    apply("INVALID_TRANSITION", None, models["payments"]["id"])
    refused(live, owner, alice, "setTask", "INVALID_TRANSITION", None, taskId=task, done=True)
    assert call(live, alice, "setTask", taskId=task, done=True)["incident"] is None
