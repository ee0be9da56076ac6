"""Seeding helpers and the live-server pattern shared by the suite's database and API tests.

Everything here is real: tenants and memberships go through the domain's use cases, tokens are minted
by the built-in issuer (``auth.Authority``) and verified by the served app, requests travel over HTTP
to a real uvicorn (``tests.server.serve``).

A typical API test module::

    from tests import factories as f

    @pytest.fixture(scope="module")
    def settings(test_db):
        return f.settings_for(test_db)

    @pytest_asyncio.fixture(scope="module")
    async def world(settings, db):
        acme = await f.create_tenant(db, "acme")
        await f.add_member(db, acme.id, "alice", Role.AGENT)
        tokens = await f.mint_tokens(settings, db, "alice")
        return acme, tokens

    @pytest.fixture(scope="module")
    def live(test_db, settings, world):
        with f.app_server(test_db, settings) as live:
            yield live

    def test_viewer(live, world):
        _, tokens = world
        data = f.gql_ok(live.url, tokens["alice"], "{ viewer { subject } }")
        assert data["viewer"]["subject"] == "alice"

``db`` (application role, row-level security applies) and ``test_db`` (one migrated database per module)
come from ``tests/conftest.py``. Raw rows that no use case writes (a breached SLA flag, a backdated
``reported_at``) are set through the owner connection: ``owner_engine`` / ``owner_sql``.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, event, pool, text
from starlette.applications import Starlette

from api.app import create_app
from api.relay import encode_id, parse_id
from api.request_id import current_request_id
from auth import Authority, Principal
from domain.catalog import service as catalog_service
from domain.catalog.models import Service
from domain.db import Database, to_sync_url
from domain.incidents import service as incident_service
from domain.incidents.enums import Impact, Urgency
from domain.incidents.models import Incident
from domain.settings import Settings
from domain.tenancy import service as tenancy_service
from domain.tenancy.models import Membership, Operator, Tenant
from domain.tenancy.roles import ALL_SCOPES, Role
from tests.conftest import TestDatabase
from tests.server import free_port, serve
from tests.waiting import eventually

# The built-in issuer of every test app: tokens minted here carry it as ``iss``, memberships name it.
ISSUER = "https://incidentdesk.test"
AUDIENCE = "incidentdesk"

__all__ = [
    "AUDIENCE",
    "ISSUER",
    "LiveApp",
    "actor",
    "add_member",
    "add_operator",
    "app_server",
    "create_service",
    "create_tenant",
    "encode_id",
    "free_port",
    "gql",
    "gql_ok",
    "mint_token",
    "mint_tokens",
    "owner_engine",
    "owner_sql",
    "post_graphql",
    "report",
    "row_id",
    "settings_for",
]


# ---------------------------------------------------------------- settings


def settings_for(test_db: TestDatabase, **overrides: Any) -> Settings:
    """Settings of a test app on ``test_db``: the test issuer, the module's database, any overrides
    (e.g. ``max_body_bytes=2048``)."""
    values: dict[str, Any] = {
        "database_url": test_db.owner_url,
        "app_database_url": test_db.app_url,
        "public_url": ISSUER,
        "audience": AUDIENCE,
        "db_pool_size": 5,
        # A test process serves many apps, one after another: the process's cycle collector keeps
        # CPython's schedule (tests/test_cycle_collector.py tests the frozen one).
        "gc_freeze_interval_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)


# ---------------------------------------------------------------- tenancy and people


async def create_tenant(
    db: Database,
    slug: str,
    *,
    name: str | None = None,
    timezone: str = "UTC",
    public_status_page: bool = False,
) -> Tenant:
    """A tenant, created as the command line does (trusted as an operator)."""
    return await tenancy_service.create_tenant(
        db,
        None,
        slug=slug,
        name=name or slug.replace("-", " ").title(),
        timezone=timezone,
        public_status_page=public_status_page,
    )


async def add_member(
    db: Database, tenant_id: uuid.UUID, subject: str, role: Role, *, issuer: str = ISSUER
) -> Membership:
    """Grant ``role`` in the tenant to (issuer, subject); granting again changes the role."""
    grant = await tenancy_service.add_member(
        db, None, tenant_id=tenant_id, issuer=issuer, subject=subject, role=role
    )
    return grant.membership


async def add_operator(db: Database, subject: str, *, issuer: str = ISSUER) -> Operator:
    """Make (issuer, subject) a platform operator."""
    return await tenancy_service.add_operator(db, issuer, subject)


def actor(
    subject: str,
    memberships: Mapping[uuid.UUID, Role],
    *,
    issuer: str = ISSUER,
    operator: bool = False,
    scopes: frozenset[str] | None = None,
    client_id: str | None = None,
) -> Principal:
    """The principal a token of ``subject`` resolves to, for calling domain use cases directly.

    It must match the memberships seeded in the database when the result is later read over HTTP
    (for instance the reporter of an incident is compared by (issuer, subject))."""
    return Principal(
        issuer=issuer,
        subject=subject,
        is_operator=operator,
        memberships=dict(memberships),
        scopes=ALL_SCOPES if scopes is None else scopes,
        client_id=client_id,
    )


# ---------------------------------------------------------------- tokens


async def mint_token(
    settings: Settings,
    db: Database,
    subject: str,
    *,
    scopes: frozenset[str] | None = None,
    ttl_seconds: int | None = None,
) -> str:
    """A bearer token of the built-in issuer for ``subject`` (all scopes unless ``scopes`` is given)."""
    authority = Authority(settings, db)
    try:
        return await authority.mint(subject, scopes=scopes, ttl_seconds=ttl_seconds)
    finally:
        await authority.aclose()


async def mint_tokens(settings: Settings, db: Database, *subjects: str) -> dict[str, str]:
    """One all-scope token per subject, by subject."""
    authority = Authority(settings, db)
    try:
        return {subject: await authority.mint(subject) for subject in subjects}
    finally:
        await authority.aclose()


# ---------------------------------------------------------------- catalogue and incidents


async def create_service(
    db: Database, manager: Principal, tenant_id: uuid.UUID, name: str, description: str | None = None
) -> Service:
    """A service of the tenant's catalogue; ``manager`` must be a MANAGER of the tenant."""
    return await catalog_service.create_service(
        db, manager, tenant_id=tenant_id, name=name, description=description
    )


async def report(
    db: Database,
    reporter: Principal,
    tenant_id: uuid.UUID,
    title: str,
    description: str = "",
    *,
    service_id: uuid.UUID | None = None,
    impact: Impact | None = None,
    urgency: Urgency | None = None,
    category: str | None = None,
) -> Incident:
    """Report an incident through the domain use case (numbered, with its CREATED event)."""
    return await incident_service.report_incident(
        db,
        reporter,
        incident_service.NewIncident(
            tenant_id=tenant_id,
            title=title,
            description=description,
            service_id=service_id,
            impact=impact,
            urgency=urgency,
            category=category,
        ),
    )


def row_id(global_id: str) -> uuid.UUID:
    """The row id inside a Relay global ID (the inverse of ``encode_id``)."""
    parsed = parse_id(global_id)
    assert parsed is not None, f"not a global id: {global_id!r}"
    return parsed[1]


# ---------------------------------------------------------------- the owner connection


def owner_engine(test_db: TestDatabase) -> Engine:
    """A synchronous engine on the owner (superuser in tests): row-level security does not apply to it.
    Dispose of it when done."""
    return create_engine(to_sync_url(test_db.owner_url), poolclass=pool.NullPool)


def owner_sql(target: TestDatabase | Engine, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
    """Run one statement as the owner in its own transaction; the rows it returns, if any."""
    engine = owner_engine(target) if isinstance(target, TestDatabase) else target
    try:
        with engine.begin() as connection:
            result = connection.execute(text(sql), dict(params or {}))
            return list(result) if result.returns_rows else []
    finally:
        if isinstance(target, TestDatabase):
            engine.dispose()


def alerts_applied(target: TestDatabase | Engine) -> None:
    """Wait until every alert the intake accepted has been applied: ``POST /v2/enqueue`` answers once the
    alert is stored, and the alert worker applies it right after."""
    eventually(
        lambda: owner_sql(target, "SELECT count(*) = 0 FROM alerts WHERE processed_at IS NULL")[0][0],
        "every accepted alert applied",
    )


# ---------------------------------------------------------------- HTTP


def post_graphql(
    base_url: str,
    token: str | None,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> httpx.Response:
    """POST one GraphQL operation; the raw response (any status)."""
    sent = dict(headers or {})
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    return httpx.post(
        f"{base_url}/graphql",
        json={"query": query, "variables": dict(variables or {})},
        headers=sent,
        timeout=timeout,
    )


def gql(
    base_url: str,
    token: str | None,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """POST one GraphQL operation and return the decoded body (``data`` and, if any, ``errors``).

    Fails unless the server answered 200 with JSON."""
    response = post_graphql(base_url, token, query, variables, headers=headers)
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text[:500]}"
    body: dict[str, Any] = response.json()
    return body


def gql_ok(
    base_url: str,
    token: str | None,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Like ``gql`` but fails on any top-level error; returns ``data``."""
    body = gql(base_url, token, query, variables, headers=headers)
    assert not body.get("errors"), body["errors"]
    data: dict[str, Any] = body["data"]
    return data


@dataclass
class LiveApp:
    """A served app: ``url`` is its base URL, ``app`` the Starlette instance (``app.state.database``...)."""

    url: str
    app: Starlette
    settings: Settings

    def gql(
        self,
        token: str | None,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return gql(self.url, token, query, variables, headers=headers)

    def gql_ok(
        self,
        token: str | None,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return gql_ok(self.url, token, query, variables, headers=headers)


@contextmanager
def app_server(
    test_db: TestDatabase,
    settings: Settings | None = None,
    *,
    app: Starlette | None = None,
    listening: bool = True,
    sock: socket.socket | None = None,
) -> Iterator[LiveApp]:
    """Serve the real app (application role, row-level security on) until the block ends.

    Start it once per module from a module-scoped fixture: starting uvicorn costs a few hundred ms.
    Pass ``app`` to serve an instance built (and perhaps altered) by the test itself; ``listening=False``
    for an app whose database cannot be reached (it never starts listening); ``sock`` to serve on a
    socket prepared by the test."""
    settings = settings or settings_for(test_db)
    app = app or create_app(settings, database_url=test_db.app_url)
    with serve(app, sock) as url:
        # Ready as in production: listening for access notices, so principals are cached from the first
        # request on (a test's statement counts do not depend on when the LISTEN connection came up).
        if listening:
            eventually(lambda: app.state.access.listening, "the app listening for access notices")
        yield LiveApp(url=url, app=app, settings=settings)


class StatementCounter:
    """Every SQL statement an engine sends for requests while counting (``before_cursor_execute``),
    thread-safely: the served app runs in another thread.

    Only a request's own work counts: it runs in the request's context (``current_request_id`` is set,
    and asyncio copies it into the tasks the request starts), while the process's background work (the
    outbox hub, the webhook worker, the scanners) runs in contexts of its own and is left out. So the
    count is exact however late that background work runs on a busy machine."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.observe(statement)

    def observe(self, statement: str) -> None:
        """A statement sent past SQLAlchemy (compiled reads go to the driver directly)."""
        if current_request_id.get() is None:
            return
        with self._lock:
            self.statements.append(statement)


@contextmanager
def counting_statements(live: LiveApp) -> Iterator[StatementCounter]:
    """Count the statements of the served app's own database until the block ends."""
    counter = StatementCounter()
    database = live.app.state.database
    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", counter)
    database.statement_observers.append(counter.observe)
    try:
        yield counter
    finally:
        database.statement_observers.remove(counter.observe)
        event.remove(engine, "before_cursor_execute", counter)
