"""Each family of /metrics moves after the action it counts, over real HTTP against the served app: a
query, a refused mutation, a live event delivered to a subscriber, a webhook delivered to a receiver on
loopback, an SLA scan; and the principal cache's hits."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from api.metrics.operations import OperationNames
from auth import Principal
from domain.db import Database
from domain.incidents.enums import Impact, Urgency
from domain.outbox.store import high_water_marks
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.integrations.receiver import Receiver, running_receiver
from tests.live.ws import Socket
from tests.sla.support import backdate, create_contract
from tests.waiting import eventually, eventually_async

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(base_url: str) -> Samples:
    response = httpx.get(f"{base_url}/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def operations(found: Samples, operation: str, kind: str, outcome: str) -> float:
    return value(
        found, "incidentdesk_graphql_operations_total", operation=operation, type=kind, outcome=outcome
    )


@dataclass
class World:
    acme: uuid.UUID
    tokens: dict[str, str]
    mona: Principal
    carl: Principal


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    # Long sleeps on purpose: the webhook worker and the SLA scanner are woken by the outbox's events.
    return f.settings_for(
        test_db,
        webhook_allow_private_targets=True,
        webhook_retry_base_seconds=0.2,
        webhook_retry_max_seconds=0.5,
        webhook_poll_seconds=3600.0,
        sla_scanner_max_sleep_seconds=3600.0,
        auto_close_interval_seconds=0,
    )


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    acme = await f.create_tenant(db, "acme")
    await f.add_member(db, acme.id, "mona", Role.MANAGER)
    await f.add_member(db, acme.id, "carl", Role.CUSTOMER)
    tokens = await f.mint_tokens(settings, db, "mona", "carl")
    mona = f.actor("mona", {acme.id: Role.MANAGER})
    await create_contract(db, mona, acme.id, effective_from=datetime(2020, 1, 1, tzinfo=UTC))
    return World(acme.id, tokens, mona, f.actor("carl", {acme.id: Role.CUSTOMER}))


@pytest.fixture(scope="module")
def live(test_db: TestDatabase, settings: Settings, world: World) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as served:
        yield served


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


ACKNOWLEDGE = """mutation Acknowledge($input: IncidentRefInput!) {
  acknowledgeIncident(input: $input) { incident { id } userErrors { code } }
}"""


async def test_operations_are_counted_by_name_type_and_outcome(
    live: f.LiveApp, world: World, db: Database
) -> None:
    token = world.tokens["mona"]
    incident = await f.report(db, world.carl, world.acme, "Printer on fire")
    before = samples(live.url)
    live.gql_ok(token, "query Me { viewer { subject } }")
    live.gql_ok(token, "{ viewer { subject } }")
    live.gql_ok(token, "query Listing { incidents(first: 5) { edges { node { id } } } }")
    ref = {"input": {"id": f.encode_id("Incident", incident.id)}}
    assert live.gql_ok(token, ACKNOWLEDGE, ref)["acknowledgeIncident"]["userErrors"] == []
    # Acknowledged already: the status machine refuses, the answer carries userErrors.
    assert live.gql_ok(token, ACKNOWLEDGE, ref)["acknowledgeIncident"]["userErrors"]
    assert live.gql(token, "query Broken { viewer { noSuchField } }")["errors"]
    after = samples(live.url)

    def moved(operation: str, kind: str, outcome: str) -> float:
        return operations(after, operation, kind, outcome) - operations(before, operation, kind, outcome)

    assert moved("Me", "query", "ok") == 1
    assert moved("anonymous", "query", "ok") == 1
    assert moved("Listing", "query", "ok") == 1  # answered by compiled reads or the executor alike
    assert moved("Acknowledge", "mutation", "ok") == 1
    assert moved("Acknowledge", "mutation", "refused") == 1
    assert moved("Broken", "query", "error") == 1
    timed = (
        "incidentdesk_graphql_operation_duration_seconds_count",
        frozenset({("operation", "Me"), ("type", "query")}),
    )
    assert after[timed] >= 1
    # Labels never carry tenants or variables' values.
    assert not any(str(world.acme) in str(labels) for _, labels in after)


def test_operation_names_are_a_bounded_set() -> None:
    names = OperationNames(limit=2)
    assert names.label(None) == "anonymous"
    assert names.label("First") == "First"
    assert names.label("Second") == "Second"
    assert names.label("Third") == "other"
    assert names.label("First") == "First"
    assert OperationNames().label("X" * 1000) == "other"


def test_the_principal_cache_hits_once_a_token_is_known(live: f.LiveApp, world: World) -> None:
    for _ in range(3):
        live.gql_ok(world.tokens["carl"], "{ viewer { subject } }")
    found = samples(live.url)
    hits = value(found, "incidentdesk_principal_cache_lookups_total", outcome="hit")
    misses = value(found, "incidentdesk_principal_cache_lookups_total", outcome="miss")
    assert hits >= 2 and misses >= 1


EVENTS = """subscription($tenant: ID) { incidentEvents(tenant: $tenant) { id kind } }"""


async def test_a_live_event_delivered_to_a_subscriber_is_timed_and_the_backlog_drains(
    live: f.LiveApp, world: World, db: Database
) -> None:
    hub = live.app.state.hub

    async def caught_up() -> bool:
        committed = await high_water_marks(db)
        return all(hub.marks.get(tenant, 0) >= seq for tenant, seq in committed.items())

    await eventually_async(caught_up, "the hub caught up with the commits")
    before = value(samples(live.url), "incidentdesk_live_event_delivery_lag_seconds_count")
    socket = await Socket.connected(live.url, world.tokens["mona"])
    opened = hub.subscriber_count()
    await socket.subscribe("1", EVENTS, {"tenant": "acme"})
    await eventually_async(lambda: hub.subscriber_count() > opened, "the subscription's feed opened")
    await f.report(db, world.carl, world.acme, "Lights flicker")
    assert (await socket.next("1"))["incidentEvents"]["kind"] == "CREATED"
    await socket.close()

    found = eventually(
        lambda: (
            (now := samples(live.url))
            and value(now, "incidentdesk_live_event_delivery_lag_seconds_count") > before
            and now
        ),
        "the delivery timed",
    )
    assert value(found, "incidentdesk_live_event_delivery_lag_seconds_sum") >= 0
    assert value(found, "incidentdesk_live_events_dispatched") >= 1
    # Everything committed has been dispatched: the backlog is read against the tenants' counters.
    eventually(
        lambda: samples(live.url).get(("incidentdesk_outbox_backlog_events", frozenset())) == 0,
        "the outbox backlog at zero",
    )


CREATE_ENDPOINT = """mutation($input: WebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { secret userErrors { message } }
}"""


async def test_webhook_deliveries_are_counted_by_outcome(
    live: f.LiveApp, world: World, db: Database, receiver: Receiver
) -> None:
    for mode in ("ok", "down"):
        name = f"{mode}-{uuid.uuid4().hex[:8]}"
        made = live.gql_ok(
            world.tokens["mona"],
            CREATE_ENDPOINT,
            {"input": {"tenant": "acme", "url": receiver.target(mode, name), "eventKinds": ["CREATED"]}},
        )["createWebhookEndpoint"]
        assert made["userErrors"] == []
        receiver.secrets[name] = made["secret"]
    await f.report(db, world.carl, world.acme, "Webhooks please")

    def counted() -> Samples | None:
        now = samples(live.url)
        delivered = value(now, "incidentdesk_webhook_deliveries_total", outcome="delivered")
        retrying = value(now, "incidentdesk_webhook_deliveries_total", outcome="retrying")
        return now if delivered >= 1 and retrying >= 1 else None

    found = eventually(counted, "a delivery made and one refused")
    assert value(found, "incidentdesk_webhook_deliveries_total", outcome="failed") == 0
    # The endpoint that is down keeps its delivery pending, to be tried again.
    assert value(found, "incidentdesk_webhook_deliveries_pending") >= 1


async def test_an_sla_scan_is_counted_and_its_lag_measured(
    live: f.LiveApp, world: World, db: Database, owner: Engine
) -> None:
    before = eventually(
        lambda: (now := samples(live.url)) and value(now, "incidentdesk_sla_scanner_leading") == 1 and now,
        "this process leading the SLA scanner",
    )
    late = await f.report(
        db, world.carl, world.acme, "Nobody answered", impact=Impact.HIGH, urgency=Urgency.HIGH
    )
    # P1 response: 30 minutes, at risk from 22.5 (75 %): both crossed 15 minutes ago and more.
    backdate(owner, late.id, timedelta(minutes=45))
    # Any change wakes the scanner: it then finds the backdated incident due.
    await f.report(db, world.carl, world.acme, "Another one")

    def scanned() -> Samples | None:
        now = samples(live.url)
        alerts = value(now, "incidentdesk_sla_scanner_alerts_total") - value(
            before, "incidentdesk_sla_scanner_alerts_total"
        )
        return now if alerts >= 2 else None

    found = eventually(scanned, "the scanner recorded the at-risk and breach alerts")
    assert value(found, "incidentdesk_sla_scanner_runs_total") > value(
        before, "incidentdesk_sla_scanner_runs_total"
    )
    assert value(found, "incidentdesk_sla_scanner_lag_seconds_count") >= 1
    # The most overdue crossing was 22.5 minutes old when the pass began.
    assert value(found, "incidentdesk_sla_scanner_lag_seconds_sum") >= 15 * 60
    bucket = value(found, "incidentdesk_sla_scanner_lag_seconds_bucket", le="900.0")
    assert bucket < value(found, "incidentdesk_sla_scanner_lag_seconds_count")


def test_a_full_collection_is_timed_and_the_frozen_counted(live: f.LiveApp) -> None:
    """The app is served in this process, whose collector the pause histogram times."""
    before = value(samples(live.url), "incidentdesk_gc_pause_seconds_count", generation="2")
    gc.collect()
    found = samples(live.url)
    assert value(found, "incidentdesk_gc_pause_seconds_count", generation="2") > before
    assert value(found, "incidentdesk_gc_pause_seconds_sum", generation="2") > 0
    # The test apps keep CPython's own schedule: nothing is frozen.
    assert ("incidentdesk_gc_frozen_objects", frozenset()) in found
    assert value(found, "incidentdesk_gc_frozen_objects") == gc.get_freeze_count()
