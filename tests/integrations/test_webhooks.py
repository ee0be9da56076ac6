"""Outbound webhooks through the served app: endpoints created over GraphQL, the app's own delivery worker
(woken by the outbox's NOTIFY), and a receiver on loopback that checks every signature."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from domain.db import Database
from domain.errors import Refused
from domain.incidents import service as incidents
from domain.incidents.enums import Visibility
from domain.settings import Settings
from domain.tenancy.roles import Role
from domain.webhooks import service as webhooks
from domain.webhooks.signing import SecretBox
from tests import factories as f
from tests.conftest import TestDatabase
from tests.integrations.receiver import Receiver, running_receiver
from tests.waiting import eventually

CREATE = """
mutation($input: WebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    endpoint { id url eventKinds active tenant { slug } }
    secret
    userErrors { field message code }
  }
}
"""
ENDPOINT = """
query($id: ID!) { node(id: $id) { ... on WebhookEndpoint {
  id active disabledAt disabledReason
  deliveries(first: 20) { id eventKind status attempts lastAttemptAt responseStatus
                          log { number responseStatus error } }
} } }
"""


@dataclass
class World:
    acme: uuid.UUID
    globex: uuid.UUID
    mia: Any
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    # The poll is an hour on purpose: deliveries arriving at all prove the NOTIFY wake-up works. The
    # timeout only has to outlast a loopback answer on a busy machine: the slow receiver never answers.
    return f.settings_for(
        test_db,
        webhook_allow_private_targets=True,
        webhook_retry_base_seconds=0.2,
        webhook_retry_max_seconds=0.5,
        webhook_timeout_seconds=5.0,
        webhook_poll_seconds=3600.0,
    )


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    acme = await f.create_tenant(db, "acme")
    globex = await f.create_tenant(db, "globex")
    initech = await f.create_tenant(db, "initech")
    await f.add_member(db, acme.id, "mia", Role.MANAGER)
    await f.add_member(db, acme.id, "alex", Role.AGENT)
    await f.add_member(db, initech.id, "mia", Role.MANAGER)
    tokens = await f.mint_tokens(settings, db, "mia", "alex")
    mia = f.actor("mia", {acme.id: Role.MANAGER, initech.id: Role.MANAGER})
    return World(acme=acme.id, globex=globex.id, mia=mia, tokens=tokens)


@pytest.fixture(scope="module")
def live(test_db: TestDatabase, settings: Settings, world: World) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as served:
        yield served


def create(live: f.LiveApp, token: str, **input: Any) -> dict[str, Any]:
    result: dict[str, Any] = live.gql_ok(token, CREATE, {"input": {"tenant": "acme", **input}})[
        "createWebhookEndpoint"
    ]
    return result


def subscribe(
    live: f.LiveApp, world: World, receiver: Receiver, mode: str, kinds: list[str]
) -> tuple[str, str]:
    """A new endpoint at the receiver; returns (its name at the receiver, its global ID)."""
    name = uuid.uuid4().hex[:10]
    made = create(live, world.tokens["mia"], url=receiver.target(mode, name), eventKinds=kinds)
    assert made["userErrors"] == []
    receiver.secrets[name] = made["secret"]
    return name, made["endpoint"]["id"]


def endpoint(live: f.LiveApp, world: World, node_id: str) -> dict[str, Any]:
    found: dict[str, Any] = live.gql_ok(world.tokens["mia"], ENDPOINT, {"id": node_id})["node"]
    return found


def settled(live: f.LiveApp, world: World, node_id: str, done: Any) -> dict[str, Any]:
    """The endpoint once every one of its deliveries satisfies ``done`` (the record follows the answer)."""

    def shown() -> dict[str, Any] | None:
        now = endpoint(live, world, node_id)
        return now if now["deliveries"] and all(done(d) for d in now["deliveries"]) else None

    found: dict[str, Any] = eventually(shown, f"every delivery of {node_id} settled", every=0.05)
    return found


# ---------------------------------------------------------------- creating endpoints


def test_a_manager_creates_an_endpoint_and_sees_its_secret_once(
    live: f.LiveApp, world: World, receiver: Receiver
) -> None:
    made = create(
        live,
        world.tokens["mia"],
        url=receiver.target("ok", "first"),
        eventKinds=["CREATED", "RESOLVED", "CREATED"],
    )
    assert made["userErrors"] == []
    assert made["secret"].startswith("whsec_")
    assert made["endpoint"]["eventKinds"] == ["CREATED", "RESOLVED"]
    assert made["endpoint"]["active"] is True and made["endpoint"]["tenant"] == {"slug": "acme"}
    shown = endpoint(live, world, made["endpoint"]["id"])
    assert shown["deliveries"] == [] and "secret" not in shown
    listed = live.gql_ok(world.tokens["mia"], '{ webhookEndpoints(tenant: "acme") { id } }')[
        "webhookEndpoints"
    ]
    assert {"id": made["endpoint"]["id"]} in listed
    # An AGENT sees none of it.
    hidden = live.gql_ok(world.tokens["alex"], ENDPOINT, {"id": made["endpoint"]["id"]})
    assert hidden == {"node": None}


@pytest.mark.parametrize(
    ("who", "input", "code", "field"),
    [
        ("alex", {"url": "http://127.0.0.1:9/x", "eventKinds": ["CREATED"]}, "FORBIDDEN", None),
        ("mia", {"url": "http://127.0.0.1:9/x", "eventKinds": []}, "INVALID", ["input", "eventKinds"]),
        (
            "mia",
            {"url": "http://127.0.0.1:9/x", "eventKinds": ["CREATED", "EXPLODED"]},
            "INVALID",
            ["input", "eventKinds", "1"],
        ),
        ("mia", {"url": "ftp://127.0.0.1/x", "eventKinds": ["CREATED"]}, "INVALID", ["input", "url"]),
        (
            "mia",
            {"url": "https://user:pw@127.0.0.1/x", "eventKinds": ["CREATED"]},
            "INVALID",
            ["input", "url"],
        ),
        (
            "mia",
            {"url": "http://no-such-host.invalid/x", "eventKinds": ["CREATED"]},
            "INVALID",
            ["input", "url"],
        ),
        (
            "mia",
            {"tenant": "globex", "url": "http://127.0.0.1:9/x", "eventKinds": ["CREATED"]},
            "NOT_FOUND",
            ["input", "tenant"],
        ),
    ],
)
def test_creating_an_endpoint_is_refused(
    live: f.LiveApp, world: World, who: str, input: dict[str, Any], code: str, field: list[str] | None
) -> None:
    made = create(live, world.tokens[who], **input)
    assert made["endpoint"] is None and made["secret"] is None
    assert [(e["code"], e["field"]) for e in made["userErrors"]] == [(code, field)]


def test_a_tenant_has_a_bounded_number_of_endpoints(live: f.LiveApp, world: World) -> None:
    for _ in range(webhooks.MAX_ENDPOINTS_PER_TENANT):
        made = create(
            live, world.tokens["mia"], tenant="initech", url="http://127.0.0.1:9/x", eventKinds=["CREATED"]
        )
        assert made["userErrors"] == []
    over = create(
        live, world.tokens["mia"], tenant="initech", url="http://127.0.0.1:9/x", eventKinds=["CREATED"]
    )
    assert [e["code"] for e in over["userErrors"]] == ["LIMIT_EXCEEDED"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "http://10.0.0.5/",
    ],
)
async def test_private_targets_are_refused_unless_allowed(db: Database, world: World, url: str) -> None:
    # The app under test allows them (its receiver is on loopback); production settings do not.
    with pytest.raises(Refused) as refused:
        await webhooks.create_webhook_endpoint(
            db,
            world.mia,
            tenant_id=world.acme,
            url=url,
            event_kinds=["CREATED"],
            box=SecretBox.for_settings(Settings()),
            allow_private_targets=False,
        )
    [problem] = refused.value.problems
    assert (problem.code.value, problem.field) == ("INVALID", ("url",))
    assert "non-public" in problem.message


# ---------------------------------------------------------------- deliveries


async def test_chosen_events_are_delivered_signed(
    live: f.LiveApp, world: World, receiver: Receiver, db: Database
) -> None:
    name, node_id = subscribe(live, world, receiver, "ok", ["CREATED", "COMMENTED"])
    incident = await f.report(db, world.mia, world.acme, "Mail relay slow")
    await incidents.assign_incident(
        db, world.mia, incident_id=incident.id, expected_version=None, assignee="alex", assignment_group=None
    )  # ASSIGNED: not chosen
    await incidents.add_comment(
        db, world.mia, incident_id=incident.id, body="Looking at the queue", visibility=Visibility.PUBLIC
    )
    receipts = receiver.wait(name, lambda seen: len(seen) >= 2)
    await asyncio.sleep(0.3)  # nothing else should follow
    receipts = receiver.of(name)
    assert [r.kind for r in receipts] == ["CREATED", "COMMENTED"]
    assert all(r.verified and r.status == 200 for r in receipts)
    first = receipts[0]
    assert first.body["type"] == "incident.created"
    assert first.body["data"]["incident"]["id"] == f.encode_id("Incident", incident.id)
    assert first.body["data"]["incident"]["number"] == incident.display_number
    assert first.message_id.startswith("msg_")
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(first.headers)
    assert first.headers["webhook-signature"].startswith("v1,")
    shown = settled(live, world, node_id, lambda d: d["status"] == "DELIVERED")
    assert [
        (d["eventKind"], d["status"], d["attempts"], d["responseStatus"]) for d in shown["deliveries"]
    ] == [
        ("COMMENTED", "DELIVERED", 1, 200),
        ("CREATED", "DELIVERED", 1, 200),
    ]
    assert shown["deliveries"][0]["log"] == [{"number": 1, "responseStatus": 200, "error": None}]


async def test_a_failed_delivery_is_retried_and_each_incident_stays_in_order(
    live: f.LiveApp, world: World, receiver: Receiver, db: Database
) -> None:
    name, node_id = subscribe(live, world, receiver, "flaky", ["CREATED", "COMMENTED"])
    one = await f.report(db, world.mia, world.acme, "Printer queue stuck")
    two = await f.report(db, world.mia, world.acme, "Badge readers offline")
    for n in range(3):
        await incidents.add_comment(
            db, world.mia, incident_id=one.id, body=f"one: note {n}", visibility=Visibility.PUBLIC
        )
        await incidents.add_comment(
            db, world.mia, incident_id=two.id, body=f"two: note {n}", visibility=Visibility.PUBLIC
        )
    receipts = receiver.wait(name, lambda seen: sum(r.status == 200 for r in seen) >= 8)
    assert all(r.verified for r in receipts)
    for incident in (one, two):
        gid = f.encode_id("Incident", incident.id)
        mine = [r for r in receipts if r.incident == gid]
        # Every message fails once (500) and succeeds on its retry, and no later event of the incident is
        # even attempted before the earlier one has been delivered.
        assert [(r.seq, r.status) for r in mine] == [(r.seq, s) for r in mine[::2] for s in (500, 200)]
        seqs = [r.seq for r in mine[::2]]
        assert seqs == sorted(seqs) and len(seqs) == 4
        assert [r.kind for r in mine[::2]] == ["CREATED", "COMMENTED", "COMMENTED", "COMMENTED"]
        # A retry carries the same webhook-id and body, signed anew.
        assert all(
            a.message_id == b.message_id and a.body == b.body
            for a, b in zip(mine[::2], mine[1::2], strict=True)
        )
    shown = settled(live, world, node_id, lambda d: d["status"] == "DELIVERED")
    logs = [[(a["number"], a["responseStatus"]) for a in d["log"]] for d in shown["deliveries"]]
    assert logs == [[(1, 500), (2, 200)]] * 8
    assert shown["active"] is True


async def test_a_slow_endpoint_times_out_and_the_attempt_is_logged(
    live: f.LiveApp, world: World, receiver: Receiver, db: Database
) -> None:
    _, node_id = subscribe(live, world, receiver, "slow", ["CREATED"])
    await f.report(db, world.mia, world.acme, "Slow partner")

    def logged() -> list[dict[str, Any]] | None:
        deliveries: list[dict[str, Any]] = endpoint(live, world, node_id)["deliveries"]
        return deliveries if deliveries and deliveries[0]["log"] else None

    deliveries = await asyncio.to_thread(eventually, logged, "the first attempt logged")
    attempt = deliveries[0]["log"][0]
    assert attempt["responseStatus"] is None and attempt["error"].startswith("timed out")
    assert deliveries[0]["status"] == "PENDING"


async def test_an_endpoint_failing_for_a_day_is_disabled(
    live: f.LiveApp, world: World, receiver: Receiver, db: Database, test_db: TestDatabase
) -> None:
    name, node_id = subscribe(live, world, receiver, "down", ["CREATED"])
    await f.report(db, world.mia, world.acme, "Partner down")
    receiver.wait(name, lambda seen: len(seen) >= 1)
    assert endpoint(live, world, node_id)["active"] is True
    # A day passes with every attempt failing (the clock is the database's; move the failure's start back).
    rows = f.owner_sql(test_db, "SELECT id FROM webhook_endpoints WHERE url LIKE :u", {"u": f"%/down/{name}"})
    endpoint_id = str(rows[0][0])
    # Both in one statement: an attempt in between would see the endpoint failing for a day but not yet
    # its delivery, and disable the endpoint with that delivery still pending.
    f.owner_sql(
        test_db,
        "WITH endpoint AS (UPDATE webhook_endpoints SET failing_since = now() - interval '25 hours'"
        " WHERE id = :e) UPDATE webhook_deliveries SET created_at = now() - interval '25 hours'"
        " WHERE endpoint_id = :e",
        {"e": endpoint_id},
    )
    await asyncio.to_thread(
        eventually, lambda: not endpoint(live, world, node_id)["active"], "the endpoint disabled"
    )
    shown = endpoint(live, world, node_id)
    assert shown["disabledAt"] is not None and "HTTP 503" in shown["disabledReason"]
    assert shown["deliveries"][0]["status"] == "FAILED"
    attempts = len(receiver.of(name))
    await f.report(db, world.mia, world.acme, "Partner still down")
    await asyncio.sleep(1.0)
    assert len(receiver.of(name)) == attempts
