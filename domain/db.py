"""Engines, sessions and the tenant scope that row-level security reads.

Every session carries its tenant scope in ``session.info``; the ``after_begin`` hook copies it into the
transaction-local setting ``app.tenant_ids`` so that no code path can forget it and nothing outlives the
transaction on a pooled connection.
"""

from __future__ import annotations

import asyncio
import functools
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import asyncpg.exceptions as asyncpg_errors  # type: ignore[import-untyped]  # asyncpg ships no types
from opentelemetry.trace import Span, SpanKind, Tracer
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction
from sqlalchemy.util import greenlet_spawn

from domain.settings import Settings

APP_ROLE = "incidentdesk_app"
OWNER_ROLE = "incidentdesk_owner"
EMBEDDED_DATABASE = "incidentdesk"


class Base(DeclarativeBase):
    pass


@dataclass(frozen=True)
class Scope:
    """What one transaction may see: the tenants it is scoped to, plus narrow self-lookups.

    ``subject``/``issuer`` admit the caller's own membership rows and ``client_id`` one OAuth client row,
    whatever their tenant: that is how authentication finds a principal before it knows its tenants.
    ``routing_keys`` admits the integration keys the alert intake was called with (none of them holds a
    comma: the setting lists them separated by commas).
    """

    tenant_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    issuer: str | None = None
    subject: str | None = None
    client_id: str | None = None
    routing_keys: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, tenant_ids: Iterable[uuid.UUID]) -> Scope:
        return cls(tenant_ids=frozenset(tenant_ids))


_SCOPE_KEY = "incidentdesk.scope"


@event.listens_for(Session, "after_begin")
def _apply_scope(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    scope: Scope = session.info.get(_SCOPE_KEY) or Scope()
    connection.execute(
        text(
            "SELECT set_config('app.tenant_ids', :ids, true), set_config('app.issuer', :iss, true),"
            " set_config('app.subject', :sub, true), set_config('app.client_id', :cid, true),"
            " set_config('app.routing_key', :rk, true)"
        ),
        _scope_values(scope),
    )


def _scope_values(scope: Scope) -> dict[str, str]:
    return {
        "ids": ",".join(sorted(str(t) for t in scope.tenant_ids)),
        "iss": scope.issuer or "",
        "sub": scope.subject or "",
        "cid": scope.client_id or "",
        "rk": ",".join(sorted(scope.routing_keys)),
    }


_READ_SCOPE = "incidentdesk.read_scope"


def _tenant_list(scope: Scope) -> str:
    """The scope's tenants as the setting holds them. Canonical UUIDs only (hex digits and dashes): the
    list is written into a statement's text."""
    if scope.issuer or scope.subject or scope.client_id or scope.routing_keys:
        raise ValueError("compiled reads run in a tenant scope only")
    return ",".join(sorted(str(uuid.UUID(str(t))) for t in scope.tenant_ids))


def _read_scope(ids: str) -> str:
    """The connection's scope for compiled reads, one simple-protocol round trip. DateStyle ISO: they
    write timestamps as PostgreSQL's ISO text (migration 0007)."""
    return (
        f"SELECT set_config('app.tenant_ids', '{ids}', false), set_config('app.issuer', '', false),"
        " set_config('app.subject', '', false), set_config('app.client_id', '', false),"
        " set_config('app.routing_key', '', false), set_config('datestyle', 'ISO', false)"
    )


async def widen_scope(session: AsyncSession, tenant_ids: Iterable[uuid.UUID]) -> None:
    """Add ``tenant_ids`` to the scope of the session's current transaction, for system work that crosses
    tenants on purpose (a provider's incident flowing to its children in customer tenants). The setting
    is transaction-local: the session's next transaction starts from its own scope again."""
    extra = ",".join(sorted(str(t) for t in tenant_ids))
    if not extra:
        return
    await session.execute(
        text(
            "SELECT set_config('app.tenant_ids',"
            " concat_ws(',', NULLIF(current_setting('app.tenant_ids', true), ''), CAST(:ids AS text)), true)"
        ),
        {"ids": extra},
    )


# deadlock_detected, serialization_failure: PostgreSQL rolled the whole transaction back, so running the
# use case again from the start is safe and is what the caller would do anyway.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
T = TypeVar("T")
P = ParamSpec("P")


def is_transient(error: BaseException) -> bool:
    if not isinstance(error, DBAPIError):
        return False
    return getattr(error.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


# Connection exceptions (08), operator intervention (57: shutdown, crash, cannot connect now), too many
# connections, and a login refused: the database is away, not the request wrong.
_UNAVAILABLE_SQLSTATES = ("08", "57P", "53300", "28000")


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached right now (killed connections, a restart),
    as opposed to anything about the request: the caller may retry the same request later."""
    if isinstance(error, ConnectionError | OSError | TimeoutError):
        return True
    if isinstance(error, asyncpg_errors.ConnectionDoesNotExistError | asyncpg_errors.InterfaceError):
        return True  # the driver's own, from statements run past SQLAlchemy (``Database.write``)
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    original = error.orig
    if isinstance(original, ConnectionError | OSError):
        return True
    sqlstate = str(getattr(original, "sqlstate", "") or "")
    if sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
        return True
    # asyncpg names a connection closed under it by class rather than by SQLSTATE.
    name = type(getattr(original, "__cause__", None) or original).__name__
    return name in {"ConnectionDoesNotExistError", "InterfaceError", "ConnectionFailureError"}


async def retrying(action: Callable[[], Awaitable[T]], *, attempts: int = 5) -> T:
    """Run a use case (one transaction) again when PostgreSQL aborted it for a deadlock or a
    serialization failure: transactions that cross tenants lock several per-tenant counters, and two of
    them may meet in opposite orders. Backs off with jitter so the retried pair do not meet again."""
    for attempt in range(1, attempts + 1):
        try:
            return await action()
        except DBAPIError as error:
            if attempt == attempts or not is_transient(error):
                raise
            await asyncio.sleep(random.uniform(0.005, 0.05) * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def use_case(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Mark a use case that writes (one transaction of its own): it runs again when PostgreSQL aborted
    it for a deadlock or a serialization failure, so every caller (the GraphQL edge, the CLI, the demo)
    gets the retry, not only the one that remembered to ask for it."""

    @functools.wraps(function)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return await retrying(lambda: function(*args, **kwargs))

    return run


class Database:
    """The runtime connection pool (application role) and scoped sessions over it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        # Called with every statement ``read_json`` sends past SQLAlchemy (whose own statements its
        # ``before_cursor_execute`` event reports): statement-count tests watch both.
        self.statement_observers: list[Callable[[str], None]] = []
        # Set by ``trace`` when the process traces; None costs one check per statement.
        self._tracer: Tracer | None = None

    def trace(self, tracer: Tracer) -> None:
        """Give each statement ``read_json`` and ``write`` send a span, as the SQLAlchemy instrumentation
        does for the sessions' statements: these go to the driver directly, past its events."""
        self._tracer = tracer

    def session(self, scope: Scope) -> AsyncSession:
        """A session whose every transaction runs inside ``scope``."""
        session = self._sessions()
        session.info[_SCOPE_KEY] = scope
        return session

    @asynccontextmanager
    async def transaction(
        self, scope: Scope, *, isolation_level: str | None = None
    ) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success, rolls back on any exception. ``isolation_level`` (e.g.
        "REPEATABLE READ") gives every statement of the transaction one snapshot."""
        session = await self.begin(scope, isolation_level=isolation_level)
        async with session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    async def begin(self, scope: Scope, *, isolation_level: str | None = None) -> AsyncSession:
        """A session whose transaction has begun and whose scope is set.

        Connections are not pinged before use: a connection the server closed while it sat in the pool
        fails on the transaction's first statement (the scope's), before the caller has done anything,
        so that one attempt is made again on a fresh connection."""
        options = {"isolation_level": isolation_level} if isolation_level else None
        for attempt in (1, 2):
            session = self.session(scope)
            try:
                await session.connection(execution_options=options)
                return session
            except DBAPIError as error:
                await session.close()
                if attempt == 2 or not error.connection_invalidated:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def read_json(self, scope: Scope, statement: str, values: Sequence[Any]) -> str | None:
        """Run one read statement returning one JSON value, in ``scope``.

        The request's whole read path, straight to the driver: usually one round trip. The statement
        runs alone in its own implicit transaction, so its scope cannot be transaction-local: it is set
        on the connection (and kept in the pooled connection's ``info``), and set again only when the
        next statement run this way on that connection has another scope. That setting outlives the
        statement, so nothing else may run statements outside a transaction on pooled connections:
        everything else goes through sessions, whose every transaction sets its own scope first
        (``_apply_scope``), overriding it. A read that fails for a dead connection is tried once more on
        a fresh one (it wrote nothing)."""
        for attempt in (1, 2):
            try:
                found: str | None = await self._scoped(
                    scope, statement, lambda driver: driver.fetchval(statement, *values)
                )
                return found
            except (OSError, asyncpg_errors.ConnectionDoesNotExistError, asyncpg_errors.InterfaceError):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def write(self, scope: Scope, statement: str, values: Sequence[Any]) -> None:
        """Run one write statement in ``scope``, as its own transaction (committed when this returns),
        the way ``read_json`` runs a read: one round trip, two when the connection's scope changes.
        For the alert intake's group commit, where a transaction's own statements would cost more than
        the rows. Not tried again on a dead connection: the write may have committed."""
        await self._scoped(scope, statement, lambda driver: driver.execute(statement, *values))

    async def _scoped(self, scope: Scope, statement: str, call: Callable[[Any], Awaitable[T]]) -> T:
        ids = _tenant_list(scope)
        # The pool's connection itself, without an engine Connection around it: nothing here needs one,
        # and a statement this short feels its cost.
        raw = await self.engine.raw_connection()
        try:
            driver: Any = raw.driver_connection
            if raw.info.get(_READ_SCOPE) != ids:
                setting = _read_scope(ids)
                for observe in self.statement_observers:
                    observe(setting)
                raw.info.pop(_READ_SCOPE, None)
                if self._tracer is None:
                    await driver.execute(setting)
                else:
                    with self._statement_span(self._tracer, setting):
                        await driver.execute(setting)
                raw.info[_READ_SCOPE] = ids
            for observe in self.statement_observers:
                observe(statement)
            if self._tracer is None:
                return await call(driver)
            with self._statement_span(self._tracer, statement):
                return await call(driver)
        except (OSError, asyncpg_errors.ConnectionDoesNotExistError, asyncpg_errors.InterfaceError):
            await greenlet_spawn(raw.invalidate)
            raise
        finally:
            # Back to the pool (a closed or invalidated one is only discarded).
            await greenlet_spawn(raw.close)

    def _statement_span(self, tracer: Tracer, statement: str) -> AbstractContextManager[Span]:
        """A statement's span, named and described like the SQLAlchemy instrumentation's (its first
        word; the text with its placeholders, never the values bound to them)."""
        words = statement.split(maxsplit=1)
        return tracer.start_as_current_span(
            words[0] if words else "postgresql",
            kind=SpanKind.CLIENT,
            attributes={
                "db.system": "postgresql",
                "db.name": self.engine.url.database or "",
                "db.statement": statement,
            },
        )

    async def all_tenant_ids(self) -> frozenset[uuid.UUID]:
        """Every tenant, for system work (auto-close, scanners) that spans tenants by design."""
        async with self._sessions() as session:
            rows = await session.execute(text("SELECT id FROM tenants"))
            return frozenset(row[0] for row in rows)

    async def dispose(self) -> None:
        await self.engine.dispose()


def to_async_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def to_sync_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def app_url_from_owner_url(url: str) -> str:
    """The application role's URL on the same server, for trust or peer set-ups (dev, tests, embedded)."""
    parsed = make_url(url)
    return parsed.set(username=APP_ROLE, password=None).render_as_string(hide_password=False)


def owner_database_url(settings: Settings) -> str:
    """The owner URL: configured, or the embedded PostgreSQL started on demand in the data dir."""
    if settings.database_url:
        return settings.database_url
    from domain.embedded import embedded_database_url

    return embedded_database_url(settings.data_dir)


def app_database_url(settings: Settings) -> str:
    if settings.app_database_url:
        return settings.app_database_url
    return app_url_from_owner_url(owner_database_url(settings))


def create_database(
    url: str, *, pool_size: int = 10, pool_overflow: int = 0, **engine_options: Any
) -> Database:
    # No ping before each checkout: a dead connection is found by the first statement and tried again
    # (Database.begin, Database.read_json) instead of costing every transaction a round trip.
    # A failed statement's error names the statement, not its parameters: they hold customers' words
    # (comment bodies, notes) and secrets, and errors end up in logs.
    engine_options.setdefault("hide_parameters", True)
    engine = create_async_engine(
        to_async_url(url), pool_size=pool_size, max_overflow=pool_overflow, **engine_options
    )
    return Database(engine)
