"""Traces with OpenTelemetry: one span per HTTP request, one per GraphQL operation, one per SQL statement
and one per webhook sent, exported over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

Nothing here is global: the app holds its ``Tracing`` (None when no provider is configured, and then
every traced place costs one ``is None`` check and nothing else: the read path is benchmarked). The
provider is the SDK's, built by ``tracer_provider`` with the sampler below; the exporter's module is
imported only when an endpoint is configured.

- **Requests** (``serve``): a SERVER span per HTTP request, the door's answers (``api/quick.py``)
  included, continuing the caller's trace when the request carries a W3C ``traceparent``. Its name is
  the method and route template, never the path: paths hold tenants' slugs.
- **GraphQL operations** (``operation``): a span named like the operation (``query Portal``) around its
  execution, whether compiled reads answer it at the door or the executor does in the stack.
- **SQL**: the maintained SQLAlchemy instrumentation on the app's engine (statements with their
  placeholders, never the values bound to them).
- **Webhooks**: the delivery worker sends each delivery in the trace of the request that wrote its
  event, and passes its span on in a ``traceparent`` header (``domain/webhooks/worker.py``).

Log lines carry the trace id through the logging setup, which reads the current span; nothing here
touches logging. Operation names are the client's; variables, documents and bodies are never recorded.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, Span, SpanKind, StatusCode
from opentelemetry.util.types import Attributes
from starlette.routing import BaseRoute, Match
from starlette.types import Message, Receive, Scope, Send

from domain.trace_context import DELIVERY_SPAN

if TYPE_CHECKING:
    from api.graphql.documents import Prepared
    from domain.db import Database
    from domain.webhooks.worker import WebhookWorker

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
SERVICE = "incidentdesk"

# A GraphQL operation's span, started by the door and handed on to the stack when the door declines.
_OPERATION = "incidentdesk.trace-operation"

App = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestsAndDeliveries(Sampler):
    """Which spans without a parent begin a trace: HTTP requests and webhook deliveries. A statement a
    background loop runs outside any of them (the webhook worker's polling rounds, the SLA scanner) is
    not recorded: it would be a trace of one span every few seconds on every replica."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        kept = kind is SpanKind.SERVER or name == DELIVERY_SPAN
        return SamplingResult(Decision.RECORD_AND_SAMPLE if kept else Decision.DROP, attributes)

    def get_description(self) -> str:
        return "RequestsAndDeliveries"


def tracer_provider(*processors: SpanProcessor) -> TracerProvider:
    """The SDK provider the service traces with: a span whose parent is sampled is sampled (the caller's
    decision in ``traceparent`` is honoured), and roots are chosen by ``RequestsAndDeliveries``.
    ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` describe the process, as everywhere."""
    named = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: SERVICE}
    provider = TracerProvider(resource=Resource.create(named), sampler=ParentBased(RequestsAndDeliveries()))
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def from_environment() -> Tracing | None:
    """Tracing exported over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces' own
    endpoint) is set; None otherwise. The exporter reads the standard ``OTEL_EXPORTER_OTLP_*``
    variables itself (headers, timeout, compression)."""
    if not any(os.environ.get(name) for name in ENDPOINT_VARIABLES):
        return None
    # Imported only here: a process that exports nothing never loads the exporter or protobuf.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return Tracing(tracer_provider(BatchSpanProcessor(OTLPSpanExporter())), owned=True)


class _AsgiHeaders(Getter[Iterable[tuple[bytes, bytes]]]):
    """Reads ``traceparent`` and ``tracestate`` from an ASGI scope's raw header list."""

    def get(self, carrier: Iterable[tuple[bytes, bytes]], key: str) -> list[str] | None:
        wanted = key.lower().encode("latin-1")
        found = [value.decode("latin-1") for name, value in carrier if name == wanted]
        return found or None

    def keys(self, carrier: Iterable[tuple[bytes, bytes]]) -> list[str]:
        return [name.decode("latin-1") for name, _ in carrier]


_HEADERS = _AsgiHeaders()


def operation_name(prepared: Prepared, name: str | None) -> tuple[str, dict[str, str]]:
    """The span's name (``query Portal``, ``mutation``) and attributes of the operation a request runs:
    its type and name, as the GraphQL semantic conventions spell them."""
    operation = prepared.operation(name)
    if operation is None:
        return "GraphQL", {}
    kind = operation.operation.value
    attributes = {"graphql.operation.type": kind}
    if operation.name is None:
        return kind, attributes
    attributes["graphql.operation.name"] = operation.name.value
    return f"{kind} {operation.name.value}", attributes


class Tracing:
    """The app's tracer and the places it traces."""

    def __init__(self, provider: trace.TracerProvider, *, owned: bool = False) -> None:
        self.provider = provider
        # An owned provider (the one built from the environment) is flushed and shut down with the app.
        self.owned = owned
        self.tracer = provider.get_tracer(SERVICE)
        self._routes: Callable[[], list[BaseRoute]] = list

    def instrument(
        self, database: Database, webhooks: WebhookWorker, routes: Callable[[], list[BaseRoute]]
    ) -> None:
        """Trace the app's SQL statements and webhook deliveries; ``routes`` names the request spans."""
        # Per engine and per provider (the instrumentor's ``instrument()`` would patch SQLAlchemy for the
        # whole process, once). Connection-pool metrics are the Prometheus endpoint's, not recorded here.
        # The instrumentation's constructor has no annotations.
        EngineTracer(  # type: ignore[no-untyped-call]
            self.tracer,
            database.engine.sync_engine,
            NoOpMeterProvider().get_meter(SERVICE).create_up_down_counter("db.client.connections.usage"),
        )
        database.trace(self.tracer)  # the statements sent to the driver directly (compiled reads)
        webhooks.trace(self.tracer)
        self._routes = routes

    async def serve(self, app: App, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer an HTTP request inside its SERVER span, continuing the caller's ``traceparent``."""
        if scope["type"] != "http":
            # A WebSocket lives for hours: its span would never end in time to be useful.
            await app(scope, receive, send)
            return
        method = scope["method"]
        parent = propagate.extract(scope["headers"], getter=_HEADERS)
        with self.tracer.start_as_current_span(
            method, context=parent, kind=SpanKind.SERVER, attributes={"http.request.method": method}
        ) as span:

            async def sending(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(StatusCode.ERROR)
                await send(message)

            try:
                await app(scope, receive, sending)
            finally:
                route = self._route(scope)
                if route is not None:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                # A door's operation span the stack never took up (it answered before reaching GraphQL).
                left: Span | None = scope.get("state", {}).pop(_OPERATION, None)
                if left is not None:
                    left.end()

    def _route(self, scope: Scope) -> str | None:
        for route in self._routes():
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(getattr(route, "path", None) or "") or None
        return None

    @contextmanager
    def operation(self, scope: Scope, prepared: Prepared, name: str | None) -> Iterator[Span]:
        """The span of the GraphQL operation the request runs, current inside the block. The door opens
        it; when the door declines (``hand_on``) the stack's answer continues the same span, so each
        operation has one span whichever path answers it."""
        state = scope.setdefault("state", {})
        span: Span | None = state.pop(_OPERATION, None)
        if span is None:
            title, attributes = operation_name(prepared, name)
            span = self.tracer.start_span(title, attributes=attributes)
        try:
            with trace.use_span(span, end_on_exit=False):
                yield span
        finally:
            if state.get(_OPERATION) is not span:
                span.end()

    @staticmethod
    def hand_on(scope: Scope, span: Span) -> None:
        """Keep the operation's span open for the stack, which answers what the door declined."""
        scope.setdefault("state", {})[_OPERATION] = span

    def shutdown(self) -> None:
        """Export what is buffered, then stop, when the provider is the app's own."""
        if self.owned and isinstance(self.provider, TracerProvider):
            self.provider.shutdown()


def configured(provider: trace.TracerProvider | None) -> Tracing | None:
    """The app's tracing: with the provider given (a test's, with an in-memory exporter), else from the
    environment."""
    return Tracing(provider) if provider is not None else from_environment()
