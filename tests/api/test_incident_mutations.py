"""Mutations over HTTP: the incident practice's first steps, tenancy and catalogue, and every refusal kind.

Each accepted change bumps ``version`` by one and writes its one timeline event; each refusal answers a
``userErrors`` entry and writes nothing (the row and its timeline are compared before and after).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f

INCIDENT = """
id number status priority priorityOverridden impact urgency category version source reportedBy
assignee assignmentGroup respondedAt service { id name }
timeline(first: 50) { totalCount edges { node { kind visibility actor message data } } }
"""

PAYLOADS = {
    "reportIncident": ("ReportIncidentInput", f"incident {{ {INCIDENT} }}"),
    "classifyIncident": ("ClassifyIncidentInput", f"incident {{ {INCIDENT} }}"),
    "assignIncident": ("AssignIncidentInput", f"incident {{ {INCIDENT} }}"),
    "acknowledgeIncident": ("IncidentRefInput", f"incident {{ {INCIDENT} }}"),
    "addComment": (
        "CommentInput",
        "event { id kind visibility actor message incident { id status version } }",
    ),
    "createTenant": ("CreateTenantInput", "tenant { id slug name timezone publicStatusPage autoCloseDays }"),
    "addMember": ("AddMemberInput", "membership { role tenant { slug } }"),
    "createService": ("CreateServiceInput", "service { id name description tenant { slug } }"),
}


def mutation(name: str) -> str:
    input_type, selection = PAYLOADS[name]
    return (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection}"
        " userErrors { field message code } } }"
    )


@dataclass
class World:
    acme: uuid.UUID
    globex: uuid.UUID
    tokens: dict[str, str]
    globex_incident: str
    email: str
    portal: str


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    acme = await f.create_tenant(db, "acme", timezone="Europe/Berlin")
    globex = await f.create_tenant(db, "globex")
    await f.add_operator(db, "olga")
    for subject, role in (("alice", Role.AGENT), ("mona", Role.MANAGER), ("carol", Role.CUSTOMER)):
        await f.add_member(db, acme.id, subject, role)
    await f.add_member(db, globex.id, "gus", Role.CUSTOMER)
    await f.add_member(db, acme.id, "pat", Role.AGENT)
    await f.add_member(db, globex.id, "pat", Role.AGENT)
    gus = f.actor("gus", {globex.id: Role.CUSTOMER})
    globex_incident = await f.report(db, gus, globex.id, "Globex only", "not for acme's eyes")
    mona = f.actor("mona", {acme.id: Role.MANAGER})
    email = await f.create_service(db, mona, acme.id, "Email")
    portal = await f.create_service(db, f.actor("mona", {globex.id: Role.MANAGER}), globex.id, "Portal")
    tokens = await f.mint_tokens(settings, db, "olga", "alice", "mona", "carol", "gus", "pat", "nobody")
    return World(
        acme=acme.id,
        globex=globex.id,
        tokens=tokens,
        globex_incident=f.encode_id("Incident", globex_incident.id),
        email=f.encode_id("Service", email.id),
        portal=f.encode_id("Service", portal.id),
    )


def run(live: f.LiveApp, token: str, name: str, /, **input: Any) -> dict[str, Any]:
    data = live.gql_ok(token, mutation(name), {"input": input})
    payload: dict[str, Any] = data[name]
    return payload


def ok(live: f.LiveApp, token: str, name: str, /, **input: Any) -> dict[str, Any]:
    payload = run(live, token, name, **input)
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


def refused(live: f.LiveApp, token: str, name: str, code: str, /, **input: Any) -> dict[str, Any]:
    payload = run(live, token, name, **input)
    assert [e["code"] for e in payload["userErrors"]] == [code], payload["userErrors"]
    result_field = next(k for k in payload if k != "userErrors")
    assert payload[result_field] is None
    error: dict[str, Any] = payload["userErrors"][0]
    assert error["message"]
    return error


def report(live: f.LiveApp, world: World, token_of: str = "carol", **input: Any) -> dict[str, Any]:
    input.setdefault("title", "Mail is down")
    input.setdefault("description", "no mail since 9:00")
    incident: dict[str, Any] = ok(live, world.tokens[token_of], "reportIncident", **input)["incident"]
    return incident


def kinds(incident: dict[str, Any]) -> list[str]:
    return [e["node"]["kind"] for e in incident["timeline"]["edges"]]


def snapshot(test_db: Any, global_id: str) -> tuple[Any, ...]:
    """The incident's row and its whole timeline as the owner sees them, to prove nothing was written."""
    key = f.row_id(global_id)
    row = f.owner_sql(test_db, "SELECT row_to_json(i)::text FROM incidents i WHERE id = :id", {"id": key})
    events = f.owner_sql(
        test_db, "SELECT id, seq, kind FROM incident_events WHERE incident_id = :id ORDER BY seq", {"id": key}
    )
    counters = f.owner_sql(test_db, "SELECT row_to_json(c)::text FROM tenant_counters c ORDER BY tenant_id")
    return (tuple(row), tuple(events), tuple(counters))


# ---------------------------------------------------------------- reportIncident


def test_a_customer_reports_an_incident(live: f.LiveApp, world: World) -> None:
    incident = report(live, world, impact="HIGH", urgency="MEDIUM", category="email")
    assert incident["number"].startswith("INC-") and len(incident["number"]) == 10
    assert incident["status"] == "NEW"
    assert (incident["impact"], incident["urgency"], incident["priority"]) == ("HIGH", "MEDIUM", "P2")
    assert incident["priorityOverridden"] is False
    assert incident["version"] == 1
    assert incident["source"] == "USER_REPORT"
    assert incident["reportedBy"] == "carol"
    assert incident["category"] == "email"
    assert incident["respondedAt"] is None
    assert kinds(incident) == ["CREATED"]
    assert incident["timeline"]["edges"][0]["node"]["visibility"] == "PUBLIC"


def test_an_agent_reports_for_a_named_tenant_with_a_service(live: f.LiveApp, world: World) -> None:
    incident = report(live, world, "pat", tenant="acme", serviceId=world.email)
    assert incident["source"] == "SERVICE_DESK"
    assert incident["service"] == {"id": world.email, "name": "Email"}
    # Defaults: MEDIUM x MEDIUM is P3.
    assert incident["priority"] == "P3"


def test_a_member_of_several_tenants_must_name_one(live: f.LiveApp, world: World) -> None:
    error = refused(live, world.tokens["pat"], "reportIncident", "INVALID", title="t", description="d")
    assert error["field"] == ["input", "tenant"]


@pytest.mark.parametrize(
    ("title", "field"),
    [("   ", ["input", "title"]), ("", ["input", "title"]), ("x" * 301, ["input", "title"])],
    ids=["blank", "empty", "too-long"],
)
def test_report_refuses_invalid_titles(live: f.LiveApp, world: World, title: str, field: list[str]) -> None:
    error = refused(live, world.tokens["carol"], "reportIncident", "INVALID", title=title, description="d")
    assert error["field"] == field


def test_report_refuses_a_detection_time_in_the_future(live: f.LiveApp, world: World) -> None:
    error = refused(
        live, world.tokens["carol"], "reportIncident", "INVALID",
        title="t", description="d", detectedAt="2999-01-01T00:00:00+01:00",
    )  # fmt: skip
    assert error["field"] == ["input", "detectedAt"]


def test_report_into_another_tenant_is_not_found(live: f.LiveApp, world: World) -> None:
    for tenant in ("globex", f.encode_id("Tenant", world.globex), "no-such-tenant"):
        error = refused(
            live,
            world.tokens["carol"],
            "reportIncident",
            "NOT_FOUND",
            tenant=tenant,
            title="t",
            description="d",
        )
        assert error["field"] == ["input", "tenant"]


# ---------------------------------------------------------------- classifyIncident


def test_classify_applies_the_matrix_and_records_the_change(live: f.LiveApp, world: World) -> None:
    incident = report(live, world)  # MEDIUM x MEDIUM: P3
    changed = ok(
        live,
        world.tokens["alice"],
        "classifyIncident",
        id=incident["id"],
        impact="HIGH",
        urgency="HIGH",
        category="network",
    )["incident"]
    assert (changed["impact"], changed["urgency"], changed["priority"]) == ("HIGH", "HIGH", "P1")
    assert changed["category"] == "network"
    assert changed["version"] == 2
    assert kinds(changed) == ["CREATED", "PRIORITY_CHANGED"]
    event = changed["timeline"]["edges"][-1]["node"]
    assert event["actor"] == "alice"
    assert event["data"]["before"]["priority"] == "P3"
    assert event["data"]["after"]["priority"] == "P1"
    # Same priority: a classification without a priority change.
    again = ok(live, world.tokens["alice"], "classifyIncident", id=incident["id"], category="mail")[
        "incident"
    ]
    assert again["priority"] == "P1"
    assert again["version"] == 3
    assert kinds(again) == ["CREATED", "PRIORITY_CHANGED", "CLASSIFIED"]
    # Classification work is internal: the customer's timeline shows the report only.
    seen_by_customer = live.gql_ok(
        world.tokens["carol"],
        f"query($id: ID!) {{ node(id: $id) {{ ... on Incident {{ {INCIDENT} }} }} }}",
        {"id": incident["id"]},
    )["node"]
    assert kinds(seen_by_customer) == ["CREATED"]
    assert seen_by_customer["timeline"]["totalCount"] == 1


def test_a_priority_override_needs_a_reason(live: f.LiveApp, world: World, test_db: Any) -> None:
    incident = report(live, world)
    before = snapshot(test_db, incident["id"])
    error = refused(
        live, world.tokens["alice"], "classifyIncident", "INVALID", id=incident["id"], priorityOverride="P1"
    )
    assert error["field"] == ["input", "overrideReason"]
    refused(
        live, world.tokens["alice"], "classifyIncident", "INVALID",
        id=incident["id"], priorityOverride="P1", overrideReason="   ",
    )  # fmt: skip
    assert snapshot(test_db, incident["id"]) == before


def test_an_override_wins_over_the_matrix_and_stays_in_the_timeline(live: f.LiveApp, world: World) -> None:
    incident = report(live, world, impact="LOW", urgency="LOW")  # P5
    reason = "the CEO's mailbox"
    changed = ok(
        live, world.tokens["alice"], "classifyIncident",
        id=incident["id"], priorityOverride="P1", overrideReason=reason,
    )["incident"]  # fmt: skip
    assert (changed["priority"], changed["priorityOverridden"]) == ("P1", True)
    event = changed["timeline"]["edges"][-1]["node"]
    assert event["kind"] == "PRIORITY_CHANGED"
    assert event["data"]["overrideReason"] == reason
    assert event["message"] == reason
    # A later classification without an override returns to the matrix.
    back = ok(live, world.tokens["alice"], "classifyIncident", id=incident["id"], urgency="HIGH")["incident"]
    assert (back["priority"], back["priorityOverridden"]) == ("P3", False)
    assert [e["node"]["data"].get("overrideReason") for e in back["timeline"]["edges"]][1] == reason


def test_a_customer_may_not_classify(live: f.LiveApp, world: World, test_db: Any) -> None:
    incident = report(live, world)
    before = snapshot(test_db, incident["id"])
    refused(live, world.tokens["carol"], "classifyIncident", "FORBIDDEN", id=incident["id"], impact="HIGH")
    assert snapshot(test_db, incident["id"]) == before


# ---------------------------------------------------------------- assign, acknowledge, comment


def test_assigning_a_new_incident_starts_work_and_responds_once(live: f.LiveApp, world: World) -> None:
    incident = report(live, world)
    first = ok(live, world.tokens["alice"], "assignIncident", id=incident["id"], assignee="alice")["incident"]
    assert (first["status"], first["assignee"], first["version"]) == ("IN_PROGRESS", "alice", 2)
    assert first["respondedAt"] is not None
    second = ok(
        live,
        world.tokens["alice"],
        "assignIncident",
        id=incident["id"],
        assignee="bob",
        assignmentGroup="network",
    )["incident"]
    assert (second["status"], second["assignee"], second["assignmentGroup"]) == (
        "IN_PROGRESS",
        "bob",
        "network",
    )
    assert second["respondedAt"] == first["respondedAt"]
    assert second["version"] == 3
    assert kinds(second) == ["CREATED", "ASSIGNED", "ASSIGNED"]


def test_assign_needs_someone(live: f.LiveApp, world: World) -> None:
    incident = report(live, world)
    refused(live, world.tokens["alice"], "assignIncident", "INVALID", id=incident["id"])


def test_acknowledge_only_from_new(live: f.LiveApp, world: World, test_db: Any) -> None:
    incident = report(live, world)
    acked = ok(live, world.tokens["alice"], "acknowledgeIncident", id=incident["id"])["incident"]
    assert (acked["status"], acked["version"]) == ("IN_PROGRESS", 2)
    assert acked["respondedAt"] is not None
    assert kinds(acked) == ["CREATED", "ACKNOWLEDGED"]
    before = snapshot(test_db, incident["id"])
    refused(live, world.tokens["alice"], "acknowledgeIncident", "INVALID_TRANSITION", id=incident["id"])
    assert snapshot(test_db, incident["id"]) == before


def test_a_customer_may_not_acknowledge(live: f.LiveApp, world: World) -> None:
    incident = report(live, world)
    refused(live, world.tokens["carol"], "acknowledgeIncident", "FORBIDDEN", id=incident["id"])


def test_comments_and_the_first_public_staff_comment(live: f.LiveApp, world: World, test_db: Any) -> None:
    incident = report(live, world)
    node = f"query($id: ID!) {{ node(id: $id) {{ ... on Incident {{ {INCIDENT} }} }} }}"
    # A customer may only comment publicly; an INTERNAL one is refused and writes nothing.
    before = snapshot(test_db, incident["id"])
    error = refused(
        live,
        world.tokens["carol"],
        "addComment",
        "FORBIDDEN",
        id=incident["id"],
        body="psst",
        visibility="INTERNAL",
    )
    assert error["field"] == ["input", "visibility"]
    assert snapshot(test_db, incident["id"]) == before
    # The customer's public comment does not answer the incident.
    event = ok(live, world.tokens["carol"], "addComment", id=incident["id"], body="still broken")["event"]
    assert (event["kind"], event["visibility"], event["actor"], event["message"]) == (
        "COMMENTED", "PUBLIC", "carol", "still broken",
    )  # fmt: skip
    assert event["incident"]["status"] == "NEW"
    # A staff work note does not answer it either.
    note = ok(
        live,
        world.tokens["alice"],
        "addComment",
        id=incident["id"],
        body="checking relays",
        visibility="INTERNAL",
    )["event"]
    assert (note["visibility"], note["incident"]["status"]) == ("INTERNAL", "NEW")
    # The first PUBLIC staff comment does: NEW -> IN_PROGRESS, respondedAt stamped.
    reply = ok(live, world.tokens["alice"], "addComment", id=incident["id"], body="on it")["event"]
    assert reply["incident"]["status"] == "IN_PROGRESS"
    after = live.gql_ok(world.tokens["alice"], node, {"id": incident["id"]})["node"]
    assert after["respondedAt"] is not None
    assert after["version"] == 4
    assert kinds(after) == ["CREATED", "COMMENTED", "COMMENTED", "COMMENTED"]
    # A blank comment is refused.
    refused(live, world.tokens["alice"], "addComment", "INVALID", id=incident["id"], body="  ")


def test_version_bumps_by_one_per_change_and_each_change_has_its_event(live: f.LiveApp, world: World) -> None:
    incident = report(live, world)
    steps = [
        ("classifyIncident", {"urgency": "HIGH"}, "PRIORITY_CHANGED"),
        ("addComment", {"body": "note", "visibility": "INTERNAL"}, "COMMENTED"),
        ("acknowledgeIncident", {}, "ACKNOWLEDGED"),
        ("assignIncident", {"assignee": "alice"}, "ASSIGNED"),
        ("classifyIncident", {"category": "mail"}, "CLASSIFIED"),
    ]
    node = f"query($id: ID!) {{ node(id: $id) {{ ... on Incident {{ {INCIDENT} }} }} }}"
    expected_kinds = ["CREATED"]
    for version, (name, extra, kind) in enumerate(steps, start=2):
        ok(live, world.tokens["alice"], name, id=incident["id"], **extra)
        now = live.gql_ok(world.tokens["alice"], node, {"id": incident["id"]})["node"]
        expected_kinds.append(kind)
        assert now["version"] == version, name
        assert kinds(now) == expected_kinds
        assert now["timeline"]["totalCount"] == len(expected_kinds)


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("classifyIncident", {"impact": "HIGH"}),
        ("assignIncident", {"assignee": "alice"}),
        ("acknowledgeIncident", {}),
    ],
)
def test_a_stale_expected_version_is_a_conflict_and_writes_nothing(
    live: f.LiveApp, world: World, test_db: Any, name: str, extra: dict[str, Any]
) -> None:
    incident = report(live, world)
    ok(live, world.tokens["alice"], "classifyIncident", id=incident["id"], category="x")  # now at version 2
    before = snapshot(test_db, incident["id"])
    error = refused(
        live, world.tokens["alice"], name, "CONFLICT", id=incident["id"], expectedVersion=1, **extra
    )
    assert error["field"] == ["input", "expectedVersion"]
    assert snapshot(test_db, incident["id"]) == before
    # The current version is accepted.
    changed = ok(live, world.tokens["alice"], name, id=incident["id"], expectedVersion=2, **extra)["incident"]
    assert changed["version"] == 3


# ---------------------------------------------------------------- NOT_FOUND answers alike

NOT_FOUND_CASES = {
    "classifyIncident": {"impact": "HIGH"},
    "assignIncident": {"assignee": "alice"},
    "acknowledgeIncident": {},
    "addComment": {"body": "hello"},
}


@pytest.mark.parametrize("name", list(NOT_FOUND_CASES))
def test_unknown_malformed_and_foreign_ids_answer_byte_identically(
    live: f.LiveApp, world: World, name: str
) -> None:
    token = world.tokens["alice"]
    answers = {}
    for label, gid in {
        "unknown": f.encode_id("Incident", uuid.uuid4()),
        "foreign": world.globex_incident,
        "malformed": "not-a-global-id",
        "other type": f.encode_id("Service", uuid.uuid4()),
    }.items():
        response = f.post_graphql(
            live.url, token, mutation(name), {"input": {"id": gid, **NOT_FOUND_CASES[name]}}
        )
        assert response.status_code == 200
        answers[label] = response.content
    assert b'"NOT_FOUND"' in answers["unknown"]
    assert answers["foreign"] == answers["unknown"]
    assert answers["malformed"] == answers["unknown"]
    assert answers["other type"] == answers["unknown"]


@pytest.mark.parametrize("name", ["reportIncident", "classifyIncident"])
def test_a_service_of_another_tenant_answers_like_an_unknown_one(
    live: f.LiveApp, world: World, name: str
) -> None:
    incident = report(live, world)
    answers = []
    for service in (world.portal, f.encode_id("Service", uuid.uuid4()), "garbage"):
        fields = {"id": incident["id"]} if name == "classifyIncident" else {"title": "t", "description": "d"}
        response = f.post_graphql(
            live.url, world.tokens["carol" if name == "reportIncident" else "alice"], mutation(name),
            {"input": {**fields, "serviceId": service}},
        )  # fmt: skip
        answers.append(response.content)
        payload = response.json()["data"][name]
        assert payload["userErrors"] == [
            {"field": ["input", "serviceId"], "message": "service not found", "code": "NOT_FOUND"}
        ]
    assert answers[0] == answers[1] == answers[2]


# ---------------------------------------------------------------- tenancy and catalogue

TENANT_INPUT = {"slug": "initech", "name": "Initech", "timezone": "America/Chicago"}


def test_an_operator_creates_a_tenant_and_adds_a_member(
    live: f.LiveApp, world: World, settings: Settings, db: Database
) -> None:
    token = world.tokens["olga"]
    tenant = ok(live, token, "createTenant", **TENANT_INPUT, publicStatusPage=True, autoCloseDays=7)["tenant"]
    assert {k: tenant[k] for k in ("slug", "name", "timezone", "publicStatusPage", "autoCloseDays")} == {
        **TENANT_INPUT,
        "publicStatusPage": True,
        "autoCloseDays": 7,
    }
    membership = ok(live, token, "addMember", tenant=tenant["id"], subject="ivan", role="MANAGER")[
        "membership"
    ]
    assert membership == {"role": "MANAGER", "tenant": {"slug": "initech"}}
    by_slug = ok(live, token, "addMember", tenant="initech", subject="iris", role="CUSTOMER")["membership"]
    assert by_slug["role"] == "CUSTOMER"
    # The slug is taken now.
    error = refused(live, token, "createTenant", "INVALID", **TENANT_INPUT)
    assert error["field"] == ["input", "slug"]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"slug": "Bad Slug!"}, "slug"),
        ({"slug": "-leading-hyphen"}, "slug"),
        ({"name": "   "}, "name"),
        ({"autoCloseDays": 0}, "autoCloseDays"),
        ({"autoCloseDays": 91}, "autoCloseDays"),
    ],
)
def test_create_tenant_refuses_invalid_input(
    live: f.LiveApp, world: World, override: dict[str, Any], field: str
) -> None:
    error = refused(
        live, world.tokens["olga"], "createTenant", "INVALID", **{**TENANT_INPUT, "slug": "fresh", **override}
    )
    assert error["field"] == ["input", field]


@pytest.mark.parametrize("who", ["alice", "mona", "carol", "nobody"])
def test_only_operators_create_tenants_and_members(live: f.LiveApp, world: World, who: str) -> None:
    token = world.tokens[who]
    refused(live, token, "createTenant", "FORBIDDEN", slug=f"by-{who}", name="X", timezone="UTC")
    refused(live, token, "addMember", "FORBIDDEN", tenant="acme", subject="mallory", role="MANAGER")


def test_add_member_to_an_unknown_tenant_is_not_found(live: f.LiveApp, world: World) -> None:
    refused(live, world.tokens["olga"], "addMember", "NOT_FOUND", tenant="no-such", subject="x", role="AGENT")


async def test_a_new_member_sees_the_tenant(
    live: f.LiveApp, world: World, settings: Settings, db: Database
) -> None:
    ok(live, world.tokens["olga"], "addMember", tenant="acme", subject="newbie", role="AGENT")
    token = await f.mint_token(settings, db, "newbie")
    viewer = live.gql_ok(token, "{ viewer { subject memberships { role tenant { slug } } } }")["viewer"]
    assert viewer == {"subject": "newbie", "memberships": [{"role": "AGENT", "tenant": {"slug": "acme"}}]}


def test_a_manager_creates_a_service(live: f.LiveApp, world: World) -> None:
    service = ok(live, world.tokens["mona"], "createService", name="VPN", description="remote access")[
        "service"
    ]
    assert {k: service[k] for k in ("name", "description", "tenant")} == {
        "name": "VPN",
        "description": "remote access",
        "tenant": {"slug": "acme"},
    }
    # The name is taken now, in this tenant.
    error = refused(live, world.tokens["mona"], "createService", "INVALID", name="VPN")
    assert error["field"] == ["input", "name"]


@pytest.mark.parametrize("who", ["alice", "carol"])
def test_below_manager_may_not_create_services(live: f.LiveApp, world: World, who: str) -> None:
    refused(live, world.tokens[who], "createService", "FORBIDDEN", name=f"Printer {who}")


def test_a_manager_may_not_create_a_service_elsewhere(live: f.LiveApp, world: World) -> None:
    error = refused(live, world.tokens["mona"], "createService", "NOT_FOUND", tenant="globex", name="Sneaky")
    assert error["field"] == ["input", "tenant"]


def test_mutations_need_a_token(live: f.LiveApp, world: World) -> None:
    body = live.gql(None, mutation("reportIncident"), {"input": {"title": "t", "description": "d"}})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_racing_twins_get_one_tenant_or_service_and_one_clear_refusal(live: f.LiveApp, world: World) -> None:
    from concurrent.futures import ThreadPoolExecutor

    twins = (
        ("olga", "createTenant", {"slug": "twin", "name": "Twin", "timezone": "UTC"}),
        ("mona", "createService", {"tenant": "acme", "name": "Twin service"}),
    )
    for subject, name, values in twins:
        calls = [(world.tokens[subject], name, values)] * 8
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda c: run(live, c[0], c[1], **c[2]), calls))
        created = [a for a in answers if not a["userErrors"]]
        refused = [a for a in answers if a["userErrors"]]
        assert len(created) == 1, answers
        assert all(a["userErrors"][0]["code"] == "INVALID" for a in refused), refused


def test_a_nul_character_anywhere_is_refused_not_a_fault(live: f.LiveApp, world: World) -> None:
    # Text columns cannot hold NUL: whichever mutation meets one answers INVALID and writes nothing.
    answer = run(live, world.tokens["mona"], "createService", tenant="acme", name="Mail\x00relay")
    assert answer["service"] is None
    [error] = answer["userErrors"]
    assert error["code"] == "INVALID"
    services = live.gql_ok(
        world.tokens["mona"], '{ services(tenant: "acme", first: 100) { edges { node { name } } } }'
    )
    assert all("relay" not in e["node"]["name"] for e in services["services"]["edges"])
