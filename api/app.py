"""The Starlette application factory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from opentelemetry.trace import TracerProvider
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from api import exposure, status_page
from api.availability import DatabaseUnavailable
from api.billing.exports import ReportExports
from api.cycle_collector import CycleCollector
from api.exposure import InsecureSettings
from api.graphql_view import GraphQLEndpoint
from api.intake import ENQUEUE_PATH
from api.integrations.runtime import Integrations
from api.limits import BodySizeLimit
from api.metrics import HttpMetrics, Metrics
from api.notices import links as notice_links
from api.quick import QuickAnswers
from api.request_id import RequestId
from api.request_log import RequestLog
from api.schema import build_schema
from api.status_subscribers.desk import Subscriptions
from api.tracing import Tracing, configured
from auth import Authority
from domain.access import AccessNotices
from domain.background import Worker, Workers
from domain.bulletins.mover import PhaseMover
from domain.db import Database, Scope, app_database_url, create_database
from domain.idempotency import ExpiredKeyPurge
from domain.incidents.auto_close import AutoCloser
from domain.mail.worker import MailWorker
from domain.migrate import applied_revisions, head_revisions
from domain.outbox import Hub, Listener
from domain.settings import Settings, get_settings
from domain.sla.scanner import SlaScanner
from domain.tenancy.directory import TenantDirectory
from domain.webhooks.service import reseal_webhook_secrets
from domain.webhooks.signing import SecretBox

# What each app of this process does when the server is told to stop, before it stops accepting work
# (``incidentdesk serve`` calls ``going_away``): close WebSockets with 1001.
_going_away: list[Callable[[], Awaitable[None]]] = []


async def going_away() -> None:
    for hook in list(_going_away):
        await hook()


class Service(Starlette):
    """The app: Starlette, with the queries compiled reads answer taken at the door, ahead of the
    middleware stack (``api/quick.py``); everything else goes through the stack. Every request, either
    way, is one line of the request log (``api/request_log.py``)."""

    quick: QuickAnswers | None = None
    # Set when the app traces (``api/tracing.py``): every request then runs inside its span.
    tracing: Tracing | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._logged = RequestLog(self.answer)
        # WebSocket endpoints by path, reached past the middleware stack. Its layers pass WebSockets
        # through untouched, but each would stay on the connection's stack for the connection's whole
        # life: a coroutine and closures per layer, for each of thousands of idle subscribers. What acts
        # on a WebSocket wraps the endpoint here instead (the request id; the request log wraps ``answer``).
        self.websockets: dict[str, ASGIApp] = {}

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        # The request's span (when traced) encloses its log line, which then carries the trace id.
        if self.tracing is not None:
            await self.tracing.serve(self._logged, scope, receive, send)
        else:
            await self._logged(scope, receive, send)

    async def answer(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] in self.websockets:
            scope["app"] = self
            await self.websockets[scope["path"]](scope, receive, send)
            return
        if self.quick is not None and self.quick.takes(scope):
            scope["app"] = self
            remaining = await self.quick(scope, receive, send)
            if remaining is None:
                return
            receive = remaining
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """Build the service. ``database_url`` is the application role's URL; derived from settings when omitted.
    Traces go to ``tracer_provider`` when given, else over OTLP when the environment names an endpoint."""
    settings = settings or get_settings()
    problems = settings.production_problems()
    if problems:
        raise InsecureSettings(problems)
    url = database_url or app_database_url(settings)
    database = create_database(url, pool_size=settings.db_pool_size, pool_overflow=settings.db_pool_overflow)
    # Who may see what is cached per process, and forgotten on every access notice the listener relays.
    access = AccessNotices()
    authority = Authority(settings, database, access=access)
    tenants = TenantDirectory(database, access)
    metrics = Metrics()
    # Mails are queued with the changes they tell of; the worker wakes on the mail channel's notices.
    mail = MailWorker(database, settings)
    subscriptions = Subscriptions(database, settings)
    graphql = GraphQLEndpoint(
        build_schema(settings),
        settings,
        database,
        authority,
        tenants,
        operations=metrics.operations,
        subscriptions=subscriptions,
    )
    # CSV exports of the billing reports: the API's tokens, scopes and rate limit.
    exports = ReportExports(settings, database, authority, graphql.rate_limit)
    # Live events: one LISTEN connection and one fan-out per process, watched by the workers that react
    # to changes.
    hub = Hub(database, feed_capacity=settings.live_feed_capacity)
    listener = Listener(
        url,
        hub,
        min_backoff=settings.live_reconnect_min_seconds,
        max_backoff=settings.live_reconnect_max_seconds,
        access=access,
    )
    # Alert intake, Idempotency-Key, and the webhook delivery worker.
    integrations = Integrations(settings, database, authority, hub)
    # SLA alerts: every replica runs the scanner loop; only the holder of its advisory lock scans.
    scanner = None
    if settings.sla_scanner_max_sleep_seconds > 0:
        scanner = SlaScanner(
            database,
            max_sleep=settings.sla_scanner_max_sleep_seconds,
            lock_retry=settings.sla_scanner_lock_retry_seconds,
        )
        scanner.watch(hub, listener)
    mail.watch(listener)
    # What runs in the background: started in this order, stopped in reverse (the watchers of the hub and
    # the listener before them). A setting of 0 switches auto-close or the scanner off (None).
    workers = Workers(
        SecretResealer(settings, database, authority),  # once, until it succeeds
        hub,
        listener,
        integrations.intake.worker,  # applies the alerts the intake accepted
        integrations.webhooks,
        mail,
        ExpiredKeyPurge(database),  # Idempotency-Key records past their time
        PhaseMover(database, tick_seconds=settings.bulletin_phase_tick_seconds, hub=hub),
        AutoCloser(database, interval_seconds=settings.auto_close_interval_seconds)
        if settings.auto_close_interval_seconds > 0
        else None,
        scanner,
        metrics.server(settings),  # /metrics on a port of its own, when INCIDENTDESK_METRICS_PORT is set
        CycleCollector(
            graphql,
            interval=settings.gc_freeze_interval_seconds,
            reclaim_every=settings.gc_reclaim_interval_seconds,
        )
        if settings.gc_freeze_interval_seconds > 0
        else None,
    )
    metrics.watch(hub, database, authority, access, webhooks=integrations.webhooks, scanner=scanner)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    # The migrations this code expects, read once: a probe must not parse files on the event loop.
    heads = sorted(head_revisions())

    async def readyz(request: Request) -> Response:
        return await readiness(database, heads)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        workers.start()
        _going_away.append(graphql.going_away)
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):
                _going_away.remove(graphql.going_away)
            await workers.stop()
            await authority.aclose()
            await database.dispose()
            if tracing is not None:
                tracing.shutdown()  # exports the spans still buffered

    # Annotated because the metrics middleware's lambda below refers to app itself.
    app: Service = Service(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *authority.routes(),
            *integrations.routes(),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *status_page.routes(database, subscriptions),
            *notice_links.routes(database, settings),
            *exports.routes(),
            *metrics.routes(settings),
        ],
        middleware=[
            *exposure.cors(settings),
            Middleware(RequestId),
            Middleware(HttpMetrics, metrics=metrics, routes=lambda: app.routes),
            Middleware(DatabaseUnavailable),
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes),
            *integrations.middleware(),
        ],
        lifespan=lifespan,
    )
    app.websockets = {"/graphql": RequestId(graphql)}
    app.quick = QuickAnswers(
        {"/graphql": graphql, ENQUEUE_PATH: integrations.intake},
        metrics,
        max_body_bytes=settings.max_body_bytes,
        cors=bool(settings.cors_origin_list()),
    )
    tracing = configured(tracer_provider)
    if tracing is not None:
        tracing.instrument(database, integrations.webhooks, routes=lambda: app.routes)
        graphql.trace(tracing)
        app.tracing = tracing
    app.state.settings = settings
    app.state.database = database
    app.state.authority = authority
    app.state.access = access
    app.state.integrations = integrations
    app.state.sla_scanner = scanner
    app.state.hub = hub
    app.state.listener = listener
    app.state.workers = workers
    app.state.metrics = metrics
    app.state.mail = mail
    return app


class SecretResealer(Worker):
    """On start, seal what is not sealed with the current key: plaintext secrets from before sealing was
    the rule, and secrets sealed with the data-dir key before a key was configured. Retried with a backoff
    until the database answers and it succeeds once; then it ends."""

    name = "reseal-secrets"

    def __init__(self, settings: Settings, database: Database, authority: Authority) -> None:
        super().__init__()
        self.settings = settings
        self.database = database
        self.authority = authority

    async def run(self) -> None:
        await self.retried(self.reseal)

    async def reseal(self) -> None:
        await self.authority.keys.reseal()
        await reseal_webhook_secrets(self.database, box=SecretBox.for_settings(self.settings))


async def readiness(database: Database, heads: list[str]) -> Response:
    """Ready when the database answers and its schema is at the migrations' head."""
    try:
        async with database.transaction(Scope()) as session:
            current = await applied_revisions(session)
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    if current != heads:
        return JSONResponse(
            {"status": "unavailable", "database": "ok", "migration": current, "head": heads}, status_code=503
        )
    return JSONResponse({"status": "ok", "database": "ok", "migration": current})
