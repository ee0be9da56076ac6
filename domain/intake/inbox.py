"""Accepting alerts: stored first, answered 202, applied afterwards by the worker.

A monitoring tool in an alert storm sends hundreds of events a second, and PagerDuty's contract is that a
202 means "accepted", not "applied". So the intake only checks the routing key and stores the event; every
event that arrives while a store is under way waits for the next one, and that one stores them all in one
transaction (group commit): one key lookup and one multi-row INSERT for the lot, whatever their tenants.
An event is answered only once its row has committed, so nothing answered 202 is ever lost.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError

from domain.columns import utcnow
from domain.db import Database, Scope, is_transient, is_unavailable, retrying, widen_scope
from domain.intake.alerts import AlertEvent
from domain.intake.models import Alert, IntegrationKey

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

    def __init__(self, db: Database, *, stored: Callable[[], None] | None = None) -> None:
        self.db = db
        self.stored = stored
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
                except DBAPIError as error:
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
        except DBAPIError as error:
            if is_unavailable(error):
                return error
            log.warning("an alert could not be stored: %s", error)
            return Unstorable(str(error.orig))
        return answer

    async def _store(self, batch: Sequence[_Waiting]) -> list[Accepted | Exception]:
        return await retrying(lambda: self._store_once(batch))

    async def _store_once(self, batch: Sequence[_Waiting]) -> list[Accepted | Exception]:
        self.stores += 1
        asked = frozenset(w.event.routing_key for w in batch if _KEY_SHAPE.fullmatch(w.event.routing_key))
        now = utcnow()
        answers: list[Accepted | Exception] = []
        async with self.db.transaction(Scope(routing_keys=asked)) as session:
            found = await session.execute(
                select(IntegrationKey.routing_key, IntegrationKey.tenant_id, IntegrationKey.id).where(
                    IntegrationKey.routing_key.in_(asked), IntegrationKey.active.is_(True)
                )
            )
            keys: dict[str, list[tuple[uuid.UUID, uuid.UUID]]] = {}
            for routing_key, tenant_id, key_id in found:
                keys.setdefault(routing_key, []).append((tenant_id, key_id))
            rows: list[dict[str, Any]] = []
            tenants: set[uuid.UUID] = set()
            for waiting in batch:
                # 128 random bits make a clash across tenants practically impossible; if one ever
                # happened, the key would name no tenant for sure, and is refused rather than guessed.
                named = keys.get(waiting.event.routing_key, [])
                if len(named) != 1:
                    answers.append(UnknownKey())
                    continue
                [(tenant_id, key_id)] = named
                tenants.add(tenant_id)
                rows.append(
                    {
                        "tenant_id": tenant_id,
                        "id": uuid.uuid4(),
                        "integration_key_id": key_id,
                        "action": waiting.event.action.value,
                        "dedup_key": waiting.dedup_key,
                        "body": waiting.body,
                        "received_at": now,
                    }
                )
                answers.append(Accepted(waiting.dedup_key))
            if rows:
                await widen_scope(session, tenants)
                await session.execute(insert(Alert), rows)
        return answers


def _fail(batch: Sequence[_Waiting], error: BaseException) -> None:
    for waiting in batch:
        if not waiting.answer.done():
            waiting.answer.set_exception(error)
