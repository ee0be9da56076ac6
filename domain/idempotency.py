"""Idempotency keys: a retried write answers with its first response instead of acting twice.

A record is scoped to one principal (issuer, subject) and lives in one of the principal's tenants (the
lowest tenant id it belongs to, so the choice is stable while its memberships are), which keeps the table
tenant-owned like every other. It remembers a fingerprint of the request and, once the first request is
done, its response, for ``idempotency_ttl_seconds`` (24 h by default).

While the first request runs, its record is IN_PROGRESS under a short lease: a duplicate arriving then
is told so (409) rather than waiting, and a request that died mid-way frees the key when its lease lapses.
Expired records are deleted by ``ExpiredKeyPurge``, a worker every replica runs.
"""

from __future__ import annotations

import enum
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Index, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, mapped_column

from domain.background import RoundWorker
from domain.columns import TenantOwned, enum_column, timestamp, utcnow
from domain.db import Base, Database, Scope

log = logging.getLogger(__name__)

# How long a first request may run before a duplicate may take its key over.
LEASE = timedelta(seconds=60)
MAX_KEY_LENGTH = 255
# Expired records are deleted every hour, the first time a minute after start.
PURGE_INTERVAL_SECONDS = 3600.0
FIRST_PURGE_AFTER_SECONDS = 60.0


class IdempotencyState(enum.StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"


class IdempotencyRecord(TenantOwned, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("tenant_id", "issuer", "subject", "idempotency_key", name="uq_idempotency_keys_key"),
        Index("ix_idempotency_keys_expires", "tenant_id", "expires_at"),
    )

    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    idempotency_key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[IdempotencyState] = enum_column(IdempotencyState)
    locked_until: Mapped[datetime] = timestamp()
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_content_type: Mapped[str | None] = mapped_column(String(200))
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = timestamp(default=utcnow)
    expires_at: Mapped[datetime] = timestamp()


@dataclass(frozen=True)
class Owner:
    """Whose key it is, and the tenant its record lives in."""

    tenant_id: uuid.UUID
    issuer: str
    subject: str

    @classmethod
    def of(cls, issuer: str, subject: str, tenant_ids: frozenset[uuid.UUID]) -> Owner | None:
        if not tenant_ids:
            return None
        return cls(tenant_id=min(tenant_ids), issuer=issuer, subject=subject)


class Claimed:
    """The key is new (or expired): the caller runs the request, then ``complete`` or ``release``."""


@dataclass(frozen=True)
class Replay:
    """The first request with this key is done: answer with its response."""

    status: int
    content_type: str | None
    body: str


class Mismatch:
    """The key was used for a different request."""


class InProgress:
    """The first request with this key is still running."""


Outcome = Claimed | Replay | Mismatch | InProgress


def _key_filter(owner: Owner, key: str) -> list[ColumnElement[bool]]:
    return [
        IdempotencyRecord.tenant_id == owner.tenant_id,
        IdempotencyRecord.issuer == owner.issuer,
        IdempotencyRecord.subject == owner.subject,
        IdempotencyRecord.idempotency_key == key,
    ]


async def claim(
    db: Database, owner: Owner, *, key: str, request_hash: str, ttl: timedelta, now: datetime | None = None
) -> Outcome:
    """Take ``key`` for this request, or say what became of its earlier use."""
    now = now or utcnow()
    async with db.transaction(Scope.of([owner.tenant_id])) as session:
        inserted = await session.scalar(
            insert(IdempotencyRecord)
            .values(
                tenant_id=owner.tenant_id,
                id=uuid.uuid4(),
                issuer=owner.issuer,
                subject=owner.subject,
                idempotency_key=key,
                request_hash=request_hash,
                state=IdempotencyState.IN_PROGRESS,
                locked_until=now + LEASE,
                created_at=now,
                expires_at=now + ttl,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "issuer", "subject", "idempotency_key"])
            .returning(IdempotencyRecord.id)
        )
        if inserted is not None:
            return Claimed()
        record = await session.scalar(
            select(IdempotencyRecord).where(*_key_filter(owner, key)).with_for_update()
        )
        if record is None:  # pragma: no cover - deleted between the two statements; the caller may retry
            return InProgress()
        lapsed = record.state is IdempotencyState.IN_PROGRESS and record.locked_until <= now
        if record.expires_at <= now or (lapsed and record.request_hash == request_hash):
            # An expired key starts afresh; a first request that died frees its key for the same request.
            record.request_hash = request_hash
            record.state = IdempotencyState.IN_PROGRESS
            record.locked_until = now + LEASE
            record.response_status = record.response_content_type = record.response_body = None
            record.created_at = now
            record.expires_at = now + ttl
            return Claimed()
        if record.request_hash != request_hash:
            return Mismatch()
        if record.state is IdempotencyState.IN_PROGRESS:
            return InProgress()
        return Replay(
            status=record.response_status or 200,
            content_type=record.response_content_type,
            body=record.response_body or "",
        )


async def complete(
    db: Database, owner: Owner, *, key: str, status: int, content_type: str | None, body: str
) -> None:
    """Keep the first request's response for replay."""
    async with db.transaction(Scope.of([owner.tenant_id])) as session:
        record = await session.scalar(
            select(IdempotencyRecord).where(*_key_filter(owner, key)).with_for_update()
        )
        if record is None:  # pragma: no cover - purged mid-request
            return
        record.state = IdempotencyState.DONE
        record.response_status = status
        record.response_content_type = content_type
        record.response_body = body


async def release(db: Database, owner: Owner, key: str) -> None:
    """Forget a claim whose request failed without an answer worth replaying; a retry then runs anew."""
    async with db.transaction(Scope.of([owner.tenant_id])) as session:
        await session.execute(
            delete(IdempotencyRecord).where(
                *_key_filter(owner, key), IdempotencyRecord.state == IdempotencyState.IN_PROGRESS
            )
        )


async def purge_expired(db: Database, *, now: datetime | None = None) -> int:
    """Delete the records past their window, in every tenant."""
    tenants = await db.all_tenant_ids()
    if not tenants:
        return 0
    async with db.transaction(Scope.of(tenants)) as session:
        result = await session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= (now or utcnow()))
        )
    return int(getattr(result, "rowcount", 0) or 0)


class ExpiredKeyPurge(RoundWorker):
    """Deletes expired records now and then (``purge_expired``): a minute after start, out of the way of
    a starting replica, then every hour. A failed purge is logged and retried after a backoff."""

    name = "idempotency-purge"
    first_round_after = FIRST_PURGE_AFTER_SECONDS

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db

    async def round(self) -> float:
        removed = await purge_expired(self.db)
        if removed:
            log.info("purged %d expired idempotency keys", removed)
        return PURGE_INTERVAL_SECONDS
