"""The per-request context: who asks, which tenants they see, and the request's DataLoaders."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from api.errors import ClientError, unavailable
from api.status_subscribers.desk import Subscriptions
from auth import Principal
from domain import visibility
from domain.access import AccessNotices
from domain.db import Database, Scope, is_unavailable
from domain.settings import Settings
from domain.tenancy.directory import TenantDirectory

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Over WebSocket one Context serves every operation of the connection. A subscription gives each event
# it yields loaders of its own (``fresh_loaders``): its operation runs in its own task, which this
# variable is local to, so caches never go stale and operations never share one.
# A request's DataLoaders, one per batch function: the function is the loader's name and its type.
Loaders = dict[Callable[..., Any], DataLoader[Any, Any]]
_OPERATION_LOADERS: ContextVar[Loaders | None] = ContextVar("operation_loaders", default=None)


def fresh_loaders() -> None:
    """Empty loaders for what the current task resolves next (call before yielding a subscription event)."""
    _OPERATION_LOADERS.set({})


class RequestReads:
    """A query request's one read transaction: begun at its first read with the scope set once, ended
    when the request ends. One session serves one task at a time, so reads take turns (the DataLoaders
    of sibling fields run concurrently)."""

    def __init__(self, db: Database, scope: Scope) -> None:
        self._db = db
        self._scope = scope
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            if self._session is None:
                self._session = await self._db.begin(self._scope)
            try:
                yield self._session
            except BaseException:
                # A failed statement spoils the transaction: the next read starts a new one.
                await self._end(commit=False)
                raise

    async def close(self) -> None:
        async with self._lock:
            await self._end(commit=True)

    async def _end(self, *, commit: bool) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                if commit:
                    await session.commit()
            finally:
                await session.close()


@dataclass
class Context:
    settings: Settings
    db: Database
    principal: Principal | None
    # The principal's tenants, narrowed by an X-Tenant header when one was sent.
    tenant_ids: frozenset[uuid.UUID]
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = None
    # When the WebSocket connection's token expires (the connection closes then).
    expires_at: datetime | None = None
    # A WebSocket connection's check that its caller still has the rights it connected with (memberships,
    # roles, the token itself), run on every access notice; None over HTTP, where each request checks.
    still_entitled: Callable[[], Awaitable[bool]] | None = None
    access: AccessNotices | None = None
    # Tenants by slug, cached by the process.
    tenants: TenantDirectory | None = None
    # The request's one read transaction (queries over HTTP); None: each read is a short transaction.
    reads: RequestReads | None = None
    # Subscribing to status pages by mail (its rate limits and links), shared with the pages' forms.
    subscriptions: Subscriptions | None = None
    _loaders: Loaders = field(default_factory=dict)

    def actor(self) -> Principal:
        """The caller, acting only in the request's tenants: an X-Tenant header narrows writes as well as
        reads."""
        if self.principal is None:
            raise ClientError("authentication required", "UNAUTHENTICATED")
        return self.principal.narrowed_to(self.tenant_ids)

    @property
    def scope(self) -> Scope:
        return Scope.of(self.tenant_ids)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session inside the request's tenant scope: the request's read transaction, or a short one.

        PostgreSQL's data exceptions (class 22: a NUL character in a filter, a value out of range) are the
        input's fault: the caller reads BAD_USER_INPUT, not a masked fault."""
        try:
            if self.reads is not None:
                async with self.reads.session() as session:
                    yield session
            else:
                async with self.db.transaction(self.scope) as session:
                    yield session
        except Exception as error:
            if is_unavailable(error):
                raise unavailable() from None
            if not isinstance(error, DBAPIError):
                raise
            if str(getattr(error.orig, "sqlstate", "") or "").startswith("22"):
                raise ClientError(
                    "a value is not acceptable (for example a NUL character, or a number out of range)",
                    "BAD_USER_INPUT",
                ) from None
            raise

    async def tenant_id_of(self, slug: str) -> uuid.UUID | None:
        if self.tenants is not None:
            return await self.tenants.id_of(slug)
        return await TenantDirectory(self.db).id_of(slug)

    def sees_internal(self, tenant_id: uuid.UUID) -> bool:
        """Whether the caller sees the tenant's internal work: the domain's visibility policy decides."""
        return visibility.sees_internal(self.principal, tenant_id)

    def sees(self, tenant_id: uuid.UUID, part: visibility.Part) -> bool:
        return visibility.sees(self.principal, tenant_id, part)

    def loader(self, batch: Callable[[Context, Sequence[K]], Awaitable[Sequence[V]]]) -> DataLoader[K, V]:
        """The request's DataLoader of ``batch`` (one answer per key, in order), created on first use so
        each request batches its own. The batch function names the loader: no two can share a cache."""
        loaders = _OPERATION_LOADERS.get()
        if loaders is None:
            loaders = self._loaders
        existing = loaders.get(batch)
        if existing is None:

            async def load(keys: list[K]) -> Sequence[V]:
                return await batch(self, keys)

            existing = DataLoader(load_fn=load)
            loaders[batch] = existing
        return existing


Info = StrawberryInfo[Context, None]
