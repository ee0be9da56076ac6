"""Traces over the real server: the app traces into an in-memory exporter, requests go over HTTP to a real
uvicorn, and a webhook goes to a real receiver on loopback.

A span is exported when it ends, which for a request's span may be just after its client has read the
answer: every look at the exporter waits for what it expects.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from api import tracing
from api.app import create_app
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.integrations.receiver import Receiver, running_receiver
from tests.waiting import eventually

PORTAL = "query Portal { incidents(first: 5) { totalCount edges { node { id title } } } }"
REPORT = """
mutation Report($input: ReportIncidentInput!) {
  reportIncident(input: $input) { incident { id } userErrors { code } }
}
"""
CREATE_ENDPOINT = """
mutation Subscribe($input: WebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { endpoint { id } secret userErrors { code } }
}
"""


@dataclass
class World:
    token: str


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    # The poll is an hour: the delivery is woken by the event's NOTIFY, not by a timer.
    return f.settings_for(test_db, webhook_allow_private_targets=True, webhook_poll_seconds=3600.0)


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    acme = await f.create_tenant(db, "acme")
    await f.add_member(db, acme.id, "mia", Role.MANAGER)
    tokens = await f.mint_tokens(settings, db, "mia")
    return World(token=tokens["mia"])


@pytest.fixture(scope="module")
def live(
    test_db: TestDatabase, settings: Settings, world: World, exporter: InMemorySpanExporter
) -> Iterator[f.LiveApp]:
    # The provider the service builds from the environment, exporting to memory instead of over OTLP.
    provider = tracing.tracer_provider(SimpleSpanProcessor(exporter))
    app = create_app(settings, database_url=test_db.app_url, tracer_provider=provider)
    with f.app_server(test_db, settings, app=app) as served:
        yield served
    provider.shutdown()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def traceparent() -> tuple[str, int, int]:
    """A caller's sampled trace context: the header, its trace id and its span id."""
    trace_id, span_id = uuid.uuid4().int, uuid.uuid4().int >> 64
    return f"00-{trace_id:032x}-{span_id:016x}-01", trace_id, span_id


def spans_of(exporter: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [
        s for s in exporter.get_finished_spans() if s.context is not None and s.context.trace_id == trace_id
    ]


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"{name}: {[s.name for s in spans]}"
    return found[0]


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def sql(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if (s.attributes or {}).get("db.system") == "postgresql"]


def request_done(exporter: InMemorySpanExporter, trace_id: int, name: str) -> list[ReadableSpan]:
    """The trace's spans once the request's own span (the last to end) is exported."""

    def ended() -> list[ReadableSpan] | None:
        spans = spans_of(exporter, trace_id)
        return spans if any(s.name == name for s in spans) else None

    return eventually(ended, f"the span {name!r} of trace {trace_id:032x}")


def test_a_query_is_a_span_named_by_its_operation_with_its_sql_beneath(
    live: f.LiveApp, world: World, exporter: InMemorySpanExporter
) -> None:
    header, trace_id, _ = traceparent()
    data = live.gql_ok(world.token, PORTAL, headers={"traceparent": header})
    assert data["incidents"]["totalCount"] == 0

    spans = request_done(exporter, trace_id, "POST /graphql")
    request = one(spans, "POST /graphql")
    operation = one(spans, "query Portal")
    assert request.kind is SpanKind.SERVER
    assert (request.attributes or {})["http.response.status_code"] == 200
    assert operation.parent is not None and request.context is not None
    assert operation.parent.span_id == request.context.span_id
    assert (operation.attributes or {}) == {
        "graphql.operation.type": "query",
        "graphql.operation.name": "Portal",
    }
    statements = sql(children(spans, operation))
    assert statements, [s.name for s in spans]
    assert all(s.kind is SpanKind.CLIENT and "db.statement" in (s.attributes or {}) for s in statements)


def test_an_incoming_traceparent_makes_the_request_a_child_of_the_callers_trace(
    live: f.LiveApp, world: World, exporter: InMemorySpanExporter
) -> None:
    header, trace_id, caller = traceparent()
    live.gql_ok(world.token, PORTAL, headers={"traceparent": header})
    spans = request_done(exporter, trace_id, "POST /graphql")
    request = one(spans, "POST /graphql")
    assert request.parent is not None and request.parent.span_id == caller and request.parent.is_remote
    # Everything the request did is in the caller's trace: its operation and its statements.
    assert {"POST /graphql", "query Portal"} <= {s.name for s in spans} and sql(spans)

    # The alert intake honours it too, whatever it answers (an unknown routing key here).
    header, trace_id, caller = traceparent()
    answer = httpx.post(
        f"{live.url}/v2/enqueue",
        json={"routing_key": "no-such-key", "event_action": "trigger"},
        headers={"traceparent": header},
        timeout=30,
    )
    intake = one(request_done(exporter, trace_id, "POST /v2/enqueue"), "POST /v2/enqueue")
    assert intake.parent is not None and intake.parent.span_id == caller
    assert (intake.attributes or {})["http.response.status_code"] == answer.status_code


def test_a_query_the_door_declines_keeps_one_span_through_the_executor(
    live: f.LiveApp, world: World, exporter: InMemorySpanExporter
) -> None:
    # Variables of the wrong type: compiled reads decline at the door, and the executor reports them.
    header, trace_id, _ = traceparent()
    body = live.gql(
        world.token,
        "query Portal($n: Int!) { incidents(first: $n) { totalCount } }",
        {"n": "five"},
        headers={"traceparent": header},
    )
    assert body["errors"] and body.get("data") is None

    spans = request_done(exporter, trace_id, "POST /graphql")
    request, operation = one(spans, "POST /graphql"), one(spans, "query Portal")
    assert operation.parent is not None and request.context is not None
    assert operation.parent.span_id == request.context.span_id


def test_a_caller_that_does_not_sample_is_not_traced(
    live: f.LiveApp, world: World, exporter: InMemorySpanExporter
) -> None:
    header, trace_id, _ = traceparent()
    unsampled = header[:-2] + "00"
    live.gql_ok(world.token, PORTAL, headers={"traceparent": unsampled})
    # Answered and sampled like any other, a second request in the same trace: only it is exported.
    live.gql_ok(world.token, "query Second { __typename }", headers={"traceparent": header})
    spans = request_done(exporter, trace_id, "POST /graphql")
    assert "query Portal" not in {s.name for s in spans}


def test_a_webhook_carries_the_trace_of_the_mutation_that_caused_it(
    live: f.LiveApp, world: World, exporter: InMemorySpanExporter, receiver: Receiver
) -> None:
    name = uuid.uuid4().hex[:10]
    made = live.gql_ok(
        world.token,
        CREATE_ENDPOINT,
        {"input": {"tenant": "acme", "url": receiver.target("ok", name), "eventKinds": ["CREATED"]}},
    )["createWebhookEndpoint"]
    assert made["userErrors"] == []
    receiver.secrets[name] = made["secret"]

    header, trace_id, _ = traceparent()
    reported = live.gql_ok(
        world.token,
        REPORT,
        {"input": {"tenant": "acme", "title": "Checkout down", "description": "every payment fails"}},
        headers={"traceparent": header},
    )["reportIncident"]
    assert reported["userErrors"] == []

    (receipt,) = receiver.wait(name, lambda seen: len(seen) == 1)
    assert receipt.verified and receipt.kind == "CREATED"
    version, sent_trace, sent_span, flags = receipt.headers["traceparent"].split("-")
    assert (version, int(sent_trace, 16), flags) == ("00", trace_id, "01")

    # The delivery's span is the header's, a child of the mutation's span: the one current when the
    # event was written.
    spans = request_done(exporter, trace_id, "webhook delivery")
    delivery = one(spans, "webhook delivery")
    mutation = one(spans, "mutation Report")
    assert delivery.context is not None and delivery.context.span_id == int(sent_span, 16)
    assert delivery.kind is SpanKind.CLIENT
    assert delivery.parent is not None and mutation.context is not None
    assert delivery.parent.span_id == mutation.context.span_id
    assert (delivery.attributes or {})["http.response.status_code"] == 200
    assert sql(children(spans, mutation)), [s.name for s in spans]


def test_nothing_is_traced_without_an_endpoint(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for variable in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    assert tracing.from_environment() is None
    app: Any = create_app(settings)
    assert app.tracing is None
