"""Alert intake over real HTTP: integration keys made by a MANAGER, PagerDuty Events API v2 bodies posted to
``/v2/enqueue`` as Alertmanager, Grafana or Zabbix would, and what they do to incidents."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine, create_engine, pool, text

from domain.db import Database, to_sync_url
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase

CREATE_KEY = """
mutation($input: IntegrationKeyInput!) {
  createIntegrationKey(input: $input) {
    integrationKey { id name routingKey createdAt tenant { slug } service { id name } }
    userErrors { field message code }
  }
}
"""

INCIDENT_FIELDS = """
id number title description status source priority impact urgency reportedBy detectedAt respondedAt version
service { id } model { name } assignmentGroup tasks { title done }
resolution { code notes resolvedBy }
timeline(first: 60) { totalCount edges { node { kind visibility actor message data } } }
"""


@dataclass
class World:
    acme: uuid.UUID
    globex: uuid.UUID
    database_service: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    return f.settings_for(test_db, intake_rate_limit_per_minute=60)


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    acme = await f.create_tenant(db, "acme")
    globex = await f.create_tenant(db, "globex")
    await f.add_member(db, acme.id, "mia", Role.MANAGER)
    await f.add_member(db, acme.id, "alex", Role.AGENT)
    await f.add_member(db, globex.id, "gina", Role.MANAGER)
    mia = f.actor("mia", {acme.id: Role.MANAGER})
    service = await f.create_service(db, mia, acme.id, "Database")
    tokens = await f.mint_tokens(settings, db, "mia", "alex", "gina")
    return World(acme.id, globex.id, str(f.encode_id("Service", service.id)), tokens)


@dataclass
class Intake(f.LiveApp):
    """The served app, and the owner's view of the alert inbox to wait on."""

    owner: Engine | None = None


@pytest.fixture(scope="module")
def live(test_db: TestDatabase, settings: Settings, world: World) -> Iterator[Intake]:
    owner = f.owner_engine(test_db)
    with f.app_server(test_db, settings) as served:
        yield Intake(url=served.url, app=served.app, settings=served.settings, owner=owner)
    owner.dispose()


def create_key(live: Intake, token: str, **input: Any) -> dict[str, Any]:
    result: dict[str, Any] = live.gql_ok(token, CREATE_KEY, {"input": input})["createIntegrationKey"]
    return result


def routing_key(live: Intake, world: World, name: str | None = None, **extra: Any) -> str:
    made = create_key(live, world.tokens["mia"], name=name or f"key-{uuid.uuid4().hex[:8]}", **extra)
    assert made["userErrors"] == []
    key: str = made["integrationKey"]["routingKey"]
    return key


def enqueue(live: Intake, body: Any) -> httpx.Response:
    """Post one event and wait until it has been applied (the intake answers once it is stored)."""
    response = httpx.post(f"{live.url}/v2/enqueue", json=body, timeout=30)
    assert live.owner is not None
    f.alerts_applied(live.owner)
    return response


def alert_log(live: Intake, token: str, key_id: str) -> list[dict[str, Any]]:
    query = """query($id: ID!) { node(id: $id) { ... on IntegrationKey { recentAlerts(first: 10) {
        action dedupKey summary receivedAt processedAt outcome incident { number } } } } }"""
    log: list[dict[str, Any]] = live.gql_ok(token, query, {"id": key_id})["node"]["recentAlerts"]
    return log


def alert(
    key: str, summary: str, *, action: str = "trigger", dedup: str | None = None, **payload: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"routing_key": key, "event_action": action}
    if dedup is not None:
        body["dedup_key"] = dedup
    if action == "trigger" or payload:
        body["payload"] = {"summary": summary, "source": "prometheus", "severity": "critical", **payload}
    return body


def incidents_matching(live: Intake, token: str, word: str) -> list[dict[str, Any]]:
    query = f"""query($q: String!) {{ incidents(first: 5, filter: {{search: $q}}) {{
        edges {{ node {{ {INCIDENT_FIELDS} }} }} }} }}"""
    data = live.gql_ok(token, query, {"q": word})
    return [edge["node"] for edge in data["incidents"]["edges"]]


def only_incident(live: Intake, token: str, word: str) -> dict[str, Any]:
    found = incidents_matching(live, token, word)
    assert len(found) == 1, found
    return found[0]


def kinds(incident: dict[str, Any]) -> list[str]:
    return [edge["node"]["kind"] for edge in incident["timeline"]["edges"]]


def word() -> str:
    return "w" + uuid.uuid4().hex[:10]


# ---------------------------------------------------------------- integration keys


def test_a_manager_creates_an_integration_key_for_the_tenant_or_a_service(live: Intake, world: World) -> None:
    made = create_key(live, world.tokens["mia"], name="Alertmanager", serviceId=world.database_service)
    assert made["userErrors"] == []
    key = made["integrationKey"]
    assert re.fullmatch(r"[0-9a-f]{32}", key["routingKey"])
    assert key["tenant"]["slug"] == "acme"
    assert key["service"] == {"id": world.database_service, "name": "Database"}
    node = live.gql_ok(world.tokens["mia"], "query($id: ID!) { node(id: $id) { id } }", {"id": key["id"]})
    assert node["node"] == {"id": key["id"]}
    listed = live.gql_ok(world.tokens["mia"], "{ integrationKeys { name } }")["integrationKeys"]
    assert "Alertmanager" in [k["name"] for k in listed]
    # Not for an AGENT, and never across tenants.
    assert live.gql_ok(
        world.tokens["alex"], "query($id: ID!) { node(id: $id) { id } }", {"id": key["id"]}
    ) == {"node": None}
    assert live.gql_ok(world.tokens["gina"], "{ integrationKeys { name } }")["integrationKeys"] == []


@pytest.mark.parametrize(
    ("who", "input", "code", "field"),
    [
        ("alex", {"name": "mine"}, "FORBIDDEN", None),
        ("mia", {"name": "  "}, "INVALID", ["input", "name"]),
        ("mia", {"name": "x" * 201}, "INVALID", ["input", "name"]),
        ("mia", {"name": "ok", "serviceId": "U2VydmljZTpub3BlCg"}, "NOT_FOUND", ["input", "serviceId"]),
        ("mia", {"name": "ok", "tenant": "globex"}, "NOT_FOUND", ["input", "tenant"]),
    ],
)
def test_creating_an_integration_key_is_refused(
    live: Intake, world: World, who: str, input: dict[str, Any], code: str, field: list[str] | None
) -> None:
    made = create_key(live, world.tokens[who], **input)
    assert made["integrationKey"] is None
    assert [(e["code"], e["field"]) for e in made["userErrors"]] == [(code, field)]


def test_a_key_name_is_unique_per_tenant(live: Intake, world: World) -> None:
    routing_key(live, world, "Grafana")
    again = create_key(live, world.tokens["mia"], name="Grafana")
    assert [(e["code"], e["field"]) for e in again["userErrors"]] == [("INVALID", ["input", "name"])]


# ---------------------------------------------------------------- trigger, repeat, acknowledge, resolve


def test_a_trigger_opens_a_monitoring_incident(live: Intake, world: World) -> None:
    key = routing_key(live, world, "Zabbix", serviceId=world.database_service)
    w = word()
    seen = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    response = enqueue(
        live,
        alert(
            key,
            f"Replication lag on db-2 {w}",
            dedup=f"lag-{w}",
            severity="error",
            timestamp=seen.isoformat().replace("+00:00", "Z"),
            component="postgres",
            custom_details={"lag_seconds": 93},
        ),
    )
    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Event processed", "dedup_key": f"lag-{w}"}
    incident = only_incident(live, world.tokens["alex"], w)
    assert incident["source"] == "MONITORING"
    assert incident["status"] == "NEW"
    assert (incident["impact"], incident["urgency"], incident["priority"]) == ("HIGH", "MEDIUM", "P2")
    assert datetime.fromisoformat(incident["detectedAt"].replace("Z", "+00:00")) == seen
    assert incident["reportedBy"] == "integration:Zabbix"
    assert incident["service"] == {"id": world.database_service}
    assert "Component: postgres" in incident["description"] and '"lag_seconds": 93' in incident["description"]
    assert kinds(incident) == ["CREATED"]
    created = incident["timeline"]["edges"][0]["node"]
    assert created["data"]["dedupKey"] == f"lag-{w}" and created["data"]["source"] == "MONITORING"


def test_a_repeat_of_an_open_alert_is_counted_on_its_incident(live: Intake, world: World) -> None:
    key = routing_key(live, world)
    w = word()
    for _ in range(3):
        assert enqueue(live, alert(key, f"CPU hot {w}", dedup=w, severity="warning")).status_code == 202
    incident = only_incident(live, world.tokens["alex"], w)
    assert incident["priority"] == "P3"
    assert kinds(incident) == ["CREATED", "ALERT_RECEIVED", "ALERT_RECEIVED"]
    assert incident["version"] == 3
    repeat = incident["timeline"]["edges"][-1]["node"]
    assert repeat["visibility"] == "INTERNAL" and repeat["data"]["count"] == 3


def test_without_a_dedup_key_the_server_makes_one_and_it_acknowledges_and_resolves(
    live: Intake, world: World
) -> None:
    made = create_key(live, world.tokens["mia"], name=f"key-{uuid.uuid4().hex[:8]}")
    key, key_id = made["integrationKey"]["routingKey"], made["integrationKey"]["id"]
    w = word()
    answer = enqueue(live, alert(key, f"Checkout errors {w}")).json()
    dedup = answer["dedup_key"]
    assert answer["status"] == "success" and re.fullmatch(r"[0-9a-f]{32}", dedup)

    acked = enqueue(live, {"routing_key": key, "event_action": "acknowledge", "dedup_key": dedup})
    assert acked.status_code == 202 and acked.json()["dedup_key"] == dedup
    incident = only_incident(live, world.tokens["alex"], w)
    assert incident["status"] == "IN_PROGRESS" and incident["respondedAt"] is not None
    # A second acknowledge is accepted like PagerDuty's, finds nothing left to do, and the alert log
    # says so.
    again = enqueue(live, {"routing_key": key, "event_action": "acknowledge", "dedup_key": dedup})
    assert again.status_code == 202 and again.json()["message"] == "Event processed"
    assert only_incident(live, world.tokens["alex"], w)["version"] == incident["version"]
    log = alert_log(live, world.tokens["mia"], key_id)
    assert [(entry["action"], entry["dedupKey"]) for entry in log] == [
        ("acknowledge", dedup),
        ("acknowledge", dedup),
        ("trigger", dedup),
    ]
    assert log[0]["outcome"] == "Event processed; the incident is already acknowledged"
    assert log[1]["outcome"] == "Event processed"
    assert log[2]["summary"] == f"Checkout errors {w}"
    assert {entry["incident"]["number"] for entry in log} == {incident["number"]}
    assert all(entry["processedAt"] >= entry["receivedAt"] for entry in log)

    resolved = enqueue(
        live,
        {
            "routing_key": key,
            "event_action": "resolve",
            "dedup_key": dedup,
            "payload": {"summary": f"Checkout errors back to normal {w}", "source": "x", "severity": "info"},
        },
    )
    assert resolved.status_code == 202
    incident = only_incident(live, world.tokens["alex"], w)
    assert incident["status"] == "RESOLVED"
    assert incident["resolution"] == {
        "code": "FIXED",
        "notes": f"Checkout errors back to normal {w}",
        "resolvedBy": incident["reportedBy"],
    }
    assert kinds(incident)[-1] == "RESOLVED"

    # The alert fires again after resolution: a new incident, not the resolved one.
    assert enqueue(live, alert(key, f"Checkout errors {w}", dedup=dedup)).status_code == 202
    both = incidents_matching(live, world.tokens["alex"], w)
    assert sorted(i["status"] for i in both) == ["NEW", "RESOLVED"]


def test_resolve_without_a_payload_uses_the_incident_title(live: Intake, world: World) -> None:
    key = routing_key(live, world)
    w = word()
    enqueue(live, alert(key, f"Queue stuck {w}", dedup=w))
    assert enqueue(live, {"routing_key": key, "event_action": "resolve", "dedup_key": w}).status_code == 202
    incident = only_incident(live, world.tokens["alex"], w)
    assert incident["status"] == "RESOLVED" and incident["resolution"]["code"] == "FIXED"
    assert w in incident["resolution"]["notes"]


def test_acknowledge_or_resolve_of_an_unknown_alert_changes_nothing(live: Intake, world: World) -> None:
    made = create_key(live, world.tokens["mia"], name=f"key-{uuid.uuid4().hex[:8]}")
    key, key_id = made["integrationKey"]["routingKey"], made["integrationKey"]["id"]
    for action in ("acknowledge", "resolve"):
        response = enqueue(live, {"routing_key": key, "event_action": action, "dedup_key": "never-seen"})
        assert response.status_code == 202
        assert response.json()["dedup_key"] == "never-seen"
    log = alert_log(live, world.tokens["mia"], key_id)
    assert [(entry["action"], entry["outcome"], entry["incident"]) for entry in log] == [
        ("resolve", "Event processed; no open incident has this dedup_key", None),
        ("acknowledge", "Event processed; no open incident has this dedup_key", None),
    ]
    # The alert log is the key's MANAGER's: an AGENT and another tenant see no key at all.
    for other in ("alex", "gina"):
        assert live.gql_ok(
            world.tokens[other], "query($id: ID!) { node(id: $id) { id } }", {"id": key_id}
        ) == {"node": None}


def test_a_matching_incident_model_is_applied(live: Intake, world: World) -> None:
    w = word()
    made = live.gql_ok(
        world.tokens["mia"],
        """mutation($input: IncidentModelInput!) { createIncidentModel(input: $input) {
             model { id } userErrors { code message } } }""",
        {
            "input": {
                "name": f"Broker lag {w}",
                "matchKeywords": [w],
                "assignmentGroup": "Messaging",
                "impact": "LOW",
                "tasks": ["Check consumer groups", "Scale consumers"],
            }
        },
    )["createIncidentModel"]
    assert made["userErrors"] == []
    key = routing_key(live, world)
    enqueue(live, alert(key, f"Kafka consumer lag {w}", dedup=w))
    incident = only_incident(live, world.tokens["alex"], w)
    assert incident["model"] == {"name": f"Broker lag {w}"}
    assert incident["assignmentGroup"] == "Messaging"
    assert [t["title"] for t in incident["tasks"]] == ["Check consumer groups", "Scale consumers"]
    # The alert's severity stays: monitoring said critical.
    assert incident["priority"] == "P1"
    assert kinds(incident) == ["CREATED", "MODEL_APPLIED"]


def test_a_key_acts_only_in_its_own_tenant(live: Intake, world: World) -> None:
    made = create_key(live, world.tokens["gina"], name="Datadog")
    key = made["integrationKey"]["routingKey"]
    w = word()
    enqueue(live, alert(key, f"Globex latency {w}", dedup=w))
    assert incidents_matching(live, world.tokens["alex"], w) == []
    gina = live.gql_ok(
        world.tokens["gina"],
        "query($q: String!) { incidents(filter: {search: $q}) { edges { node { tenant { slug } source } } } }",
        {"q": w},
    )
    assert [e["node"] for e in gina["incidents"]["edges"]] == [
        {"tenant": {"slug": "globex"}, "source": "MONITORING"}
    ]


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"event_action": "trigger"}, "'routing_key' is missing or blank"),
        (
            {"routing_key": "k", "event_action": "trigger", "payload": {"summary": "s"}},
            "'source' is missing or blank",
        ),
        (
            {"routing_key": "k", "event_action": "nudge"},
            "'event_action' must be one of trigger, acknowledge, resolve",
        ),
        (alert("0" * 32, "nobody's key"), "'routing_key' is not a known integration key"),
    ],
)
def test_invalid_events_answer_400_with_errors(live: Intake, body: Any, error: str) -> None:
    response = enqueue(live, body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["status"] == "invalid event" and answer["message"] == "Event object is invalid"
    assert error in answer["errors"]


def test_a_body_that_is_not_json_answers_400(live: Intake) -> None:
    response = httpx.post(
        f"{live.url}/v2/enqueue", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"] == ["Event object is not valid JSON"]


def test_a_routing_key_sending_too_fast_is_throttled(live: Intake, world: World) -> None:
    key = routing_key(live, world)
    other = routing_key(live, world)
    body = {"routing_key": key, "event_action": "acknowledge", "dedup_key": "nothing"}
    statuses = [enqueue(live, body).status_code for _ in range(60)]
    assert statuses == [202] * 60
    throttled = enqueue(live, body)
    assert throttled.status_code == 429
    assert throttled.json()["status"] == "throttle event"
    assert int(throttled.headers["retry-after"]) >= 1
    # Limits are per routing key.
    assert enqueue(live, {**body, "routing_key": other}).status_code == 202


# ---------------------------------------------------------------- concurrency


async def test_fifty_identical_triggers_at_once_open_one_incident(
    live: Intake, world: World, test_db: TestDatabase
) -> None:
    key = await asyncio.to_thread(routing_key, live, world)
    w = word()
    body = alert(key, f"Storage array degraded {w}", dedup=f"array-{w}")
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as http:
        responses = await asyncio.gather(*(http.post("/v2/enqueue", json=body) for _ in range(50)))
    assert [r.status_code for r in responses] == [202] * 50
    assert {r.json()["dedup_key"] for r in responses} == {f"array-{w}"}
    await asyncio.to_thread(f.alerts_applied, test_db)
    rows = f.owner_sql(
        test_db,
        "SELECT count(*), max(alert_count), max(version) FROM incidents WHERE alert_dedup_key = :k",
        {"k": f"array-{w}"},
    )
    assert tuple(rows[0]) == (1, 50, 50)
    incident = await asyncio.to_thread(only_incident, live, world.tokens["alex"], w)
    assert kinds(incident).count("CREATED") == 1
    assert kinds(incident).count("ALERT_RECEIVED") == 49


def test_an_alert_aborted_as_a_deadlock_is_applied_on_the_next_try(
    live: Intake, world: World, test_db: TestDatabase
) -> None:
    # PostgreSQL aborts the first try of this alert's transaction as it would a deadlock (a sequence
    # counts tries, since it survives the rollback); the intake runs it again, and it lands once.
    title = word()
    owner = create_engine(to_sync_url(test_db.owner_url), poolclass=pool.NullPool)
    with owner.begin() as connection:
        connection.execute(text("CREATE SEQUENCE intake_tries"))
        connection.execute(
            text(
                "CREATE FUNCTION deadlock_once() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$"
                " BEGIN IF nextval('intake_tries') = 1 THEN"
                " RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END IF; RETURN NEW; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER deadlock_once BEFORE INSERT ON incidents FOR EACH ROW"
                f" WHEN (NEW.title = '{title}') EXECUTE FUNCTION deadlock_once()"
            )
        )
    try:
        answer = enqueue(live, alert(routing_key(live, world), title, dedup=title))
        assert answer.status_code == 202, answer.text
        incident = only_incident(live, world.tokens["mia"], title)
        assert kinds(incident) == ["CREATED"] and incident["version"] == 1
        with owner.connect() as connection:
            assert connection.execute(text("SELECT last_value FROM intake_tries")).scalar_one() == 2
    finally:
        with owner.begin() as connection:
            connection.execute(text("DROP TRIGGER deadlock_once ON incidents"))
            connection.execute(text("DROP FUNCTION deadlock_once()"))
            connection.execute(text("DROP SEQUENCE intake_tries"))
        owner.dispose()


def test_a_body_postgresql_could_not_store_answers_400_and_stores_nothing(live: Intake, world: World) -> None:
    key = routing_key(live, world)
    w = word()
    for raw in (
        b'{"routing_key": "%s", "event_action": "trigger", "dedup_key": "%s",'
        b' "payload": {"summary": "x", "source": "y", "severity": "info", "custom_details": NaN}}',
        b'{"routing_key": "%s", "event_action": "trigger", "dedup_key": "%s",'
        b' "payload": {"summary": "\\ud800", "source": "y", "severity": "info"}}',
    ):
        response = httpx.post(
            f"{live.url}/v2/enqueue",
            content=raw % (key.encode(), w.encode()),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400, response.text
    assert live.owner is not None
    assert f.owner_sql(live.owner, "SELECT count(*) FROM alerts WHERE dedup_key = :d", {"d": w})[0][0] == 0


def test_the_door_and_the_stack_answer_alike(live: Intake, world: World) -> None:
    # Most alerts are answered at the door, ahead of the middleware stack; a streamed body (no
    # Content-Length) goes through the stack. Both give the same answers.
    key = routing_key(live, world)

    def streamed(data: bytes) -> Iterator[bytes]:
        yield data[:10]
        yield data[10:]

    for event in (
        {"routing_key": key, "event_action": "acknowledge", "dedup_key": word()},
        {"routing_key": key, "event_action": "nudge"},
        {"routing_key": "0" * 32, "event_action": "resolve", "dedup_key": "x"},
    ):
        data = json.dumps(event).encode()
        headers = {"content-type": "application/json", "x-request-id": "door-or-stack"}
        door = httpx.post(f"{live.url}/v2/enqueue", content=data, headers=headers)
        stack = httpx.post(f"{live.url}/v2/enqueue", content=streamed(data), headers=headers)
        assert "content-length" not in stack.request.headers
        assert (door.status_code, door.json()) == (stack.status_code, stack.json())
        assert door.headers["x-request-id"] == stack.headers["x-request-id"] == "door-or-stack"
