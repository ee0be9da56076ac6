"""Accepting alerts: stored first, answered 202, applied afterwards by the worker.

A monitoring tool in an alert storm sends hundreds of events a second, and PagerDuty's contract is that a
202 means "accepted", not "applied". So the intake only checks the routing key and stores the event; every
event that arrives while a store is under way waits for the next one, and that one stores them all in one
statement (group commit): one INSERT for the lot, whatever their tenants, committed on its own (routing
keys are cached per replica under the access notices' rules, so a known key costs no lookup). An event is
answered only once its row has committed, so nothing answered 202 is ever lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg.exceptions as asyncpg_errors  # type: ignore[import-untyped]  # asyncpg ships no types
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from domain.access import AccessCache, AccessNotices
from domain.columns import utcnow
from domain.db import Database, Scope, is_transient, is_unavailable, retrying
from domain.intake.alerts import AlertEvent
from domain.intake.models import IntegrationKey

log = logging.getLogger(__name__)

# Routing keys are made by ``new_routing_key`` (hex); the lookup scope lists keys separated by commas,
# so no other shape is ever asked for.
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# One store takes at most this many events; the rest wait for the next (a bounded statement).
MAX_BATCH = 500


@dataclass(frozen=True)
class Accepted:
    """The event is stored: the answer's dedup key (made here for a trigger that came without one)."""

    dedup_key: str


class UnknownKey(Exception):
    """No active integration key has the event's routing key."""


class Unstorable(Exception):
    """The event could not be stored although its body was valid (it is refused, the others are not)."""


@dataclass
class _Waiting:
    event: AlertEvent
    body: dict[str, Any]
    dedup_key: str
    answer: asyncio.Future[Accepted]


class AlertInbox:
    """Group commit of accepted alerts. ``stored`` is called after each store (the worker's wake-up)."""

    def __init__(
        self,
        db: Database,
        *,
        notices: AccessNotices | None = None,
        stored: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.stored = stored
        # Routing keys found, under the access notices' rules: a key revoked anywhere is heard at commit.
        self._known: AccessCache[str, tuple[uuid.UUID, uuid.UUID]] | None = (
            AccessCache(notices) if notices is not None else None
        )
        self._waiting: list[_Waiting] = []
        self._storing: asyncio.Task[None] | None = None
        self.stores = 0

    async def accept(self, event: AlertEvent, body: dict[str, Any]) -> Accepted:
        """Store one event (``body`` is its decoded document); raises ``UnknownKey`` or ``Unstorable``."""
        dedup_key = event.dedup_key or uuid.uuid4().hex
        kept = {name: value for name, value in body.items() if name != "routing_key"}
        answer: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        # Read the outcome even when the caller went away before it came, so that it is never reported
        # as an exception nobody retrieved.
        answer.add_done_callback(lambda done: done.cancelled() or done.exception())
        waiting = _Waiting(event, kept, dedup_key, answer)
        self._waiting.append(waiting)
        if self._storing is None:
            self._storing = asyncio.create_task(self._store_all(), name="alert-inbox")
        # A caller that goes away does not take the store with it: the event is stored all the same.
        return await asyncio.shield(waiting.answer)

    async def _store_all(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                try:
                    answers = await self._store(batch)
                except (DBAPIError, asyncpg_errors.PostgresError) as error:
                    if is_unavailable(error) or is_transient(error):
                        _fail(batch, error)
                        continue
                    # One event the database refused spoils the statement for all: store them one by
                    # one, so that only that one is refused.
                    log.warning("storing %d alerts together failed (%s); one by one", len(batch), error)
                    answers = [await self._store_alone(waiting) for waiting in batch]
                except Exception as error:
                    _fail(batch, error)
                    continue
                for waiting, answer in zip(batch, answers, strict=True):
                    if not waiting.answer.done():
                        if isinstance(answer, Exception):
                            waiting.answer.set_exception(answer)
                        else:
                            waiting.answer.set_result(answer)
                if self.stored is not None:
                    self.stored()
        finally:
            self._storing = None

    async def _store_alone(self, waiting: _Waiting) -> Accepted | Exception:
        try:
            [answer] = await self._store([waiting])
        except (DBAPIError, asyncpg_errors.PostgresError) as error:
            if is_unavailable(error):
                return error
            log.warning("an alert could not be stored: %s", error)
            return Unstorable(str(error))
        return answer

    async def _store(self, batch: Sequence[_Waiting]) -> list[Accepted | Exception]:
        return await retrying(lambda: self._store_once(batch))

    async def _store_once(self, batch: Sequence[_Waiting]) -> list[Accepted | Exception]:
        self.stores += 1
        keys = await self._keys({w.event.routing_key for w in batch})
        now = utcnow()
        answers: list[Accepted | Exception] = []
        columns: list[list[Any]] = [[] for _ in range(7)]
        for waiting in batch:
            found = keys.get(waiting.event.routing_key)
            if found is None:
                answers.append(UnknownKey())
                continue
            tenant_id, key_id = found
            row = (
                tenant_id,
                uuid.uuid4(),
                key_id,
                waiting.event.action.value,
                waiting.dedup_key,
                json.dumps(waiting.body),
                now,
            )
            for column, value in zip(columns, row, strict=True):
                column.append(value)
            answers.append(Accepted(waiting.dedup_key))
        if columns[0]:
            await self.db.write(Scope.of(columns[0]), _STORE, columns)
        return answers

    async def _keys(self, routing_keys: set[str]) -> dict[str, tuple[uuid.UUID, uuid.UUID]]:
        """(tenant, key id) of each active key among ``routing_keys``; from the cache when it knows."""
        found: dict[str, tuple[uuid.UUID, uuid.UUID]] = {}
        asked = set()
        for routing_key in routing_keys:
            if not _KEY_SHAPE.fullmatch(routing_key):
                continue
            known = self._known.get(routing_key) if self._known is not None else None
            if known is not None:
                found[routing_key] = known
            else:
                asked.add(routing_key)
        if not asked:
            return found
        generation = self._known.generation() if self._known is not None else 0
        async with self.db.transaction(Scope(routing_keys=frozenset(asked))) as session:
            rows = await session.execute(
                select(IntegrationKey.routing_key, IntegrationKey.tenant_id, IntegrationKey.id).where(
                    IntegrationKey.routing_key.in_(asked), IntegrationKey.active.is_(True)
                )
            )
            named: dict[str, list[tuple[uuid.UUID, uuid.UUID]]] = {}
            for routing_key, tenant_id, key_id in rows:
                named.setdefault(routing_key, []).append((tenant_id, key_id))
        for routing_key, keys in named.items():
            # 128 random bits make a clash across tenants practically impossible; if one ever happened,
            # the key would name no tenant for sure, and is refused rather than guessed.
            if len(keys) == 1:
                found[routing_key] = keys[0]
                if self._known is not None:
                    self._known.put(routing_key, keys[0], generation)
        return found


# One statement, one round trip, for the whole batch (``Database.write``): a column per array.
_STORE = (
    "INSERT INTO alerts (tenant_id, id, integration_key_id, action, dedup_key, body, received_at)"
    " SELECT tenant_id, id, integration_key_id, action, dedup_key, CAST(body AS jsonb), received_at"
    " FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],"
    " $7::timestamptz[]) AS alert(tenant_id, id, integration_key_id, action, dedup_key, body, received_at)"
)


def _fail(batch: Sequence[_Waiting], error: BaseException) -> None:
    for waiting in batch:
        if not waiting.answer.done():
            waiting.answer.set_exception(error)
