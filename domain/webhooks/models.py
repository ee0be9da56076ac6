"""Webhook endpoints, their deliveries (one per endpoint and event) and the log of every attempt."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.columns import TenantOwned, enum_column, timestamp, utcnow
from domain.db import Base


class DeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"  # waiting for its first or next attempt
    DELIVERED = "DELIVERED"  # the endpoint answered 2xx
    FAILED = "FAILED"  # given up: failing for longer than the disable window


class WebhookEndpoint(TenantOwned, Base):
    """A partner's URL that receives the tenant's timeline events of the chosen kinds.

    ``last_seq`` is the endpoint's cursor into the outbox: every event of the tenant up to that ``seq``
    has been turned into a delivery (or skipped as a kind it did not choose). Events carry a per-tenant
    ``seq`` in commit order, so nothing committed later can appear below the cursor.
    """

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(Text)
    event_kinds: Mapped[list[str]] = mapped_column(JSONB)
    # The signing secret (``whsec_...``), Fernet-encrypted when a key encryption key is configured.
    secret: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # Set by the first failed attempt after a success; cleared by any success.
    failing_since: Mapped[datetime | None] = timestamp()
    disabled_at: Mapped[datetime | None] = timestamp()
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = timestamp(default=utcnow)


class WebhookDelivery(TenantOwned, Base):
    """One event bound for one endpoint. The body is fixed when the delivery is created, so every retry
    sends the same bytes under the same ``webhook-id``; only the timestamp and signature change."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "endpoint_id", "event_id", name="uq_webhook_deliveries_event"),
        ForeignKeyConstraint(
            ["tenant_id", "endpoint_id"],
            ["webhook_endpoints.tenant_id", "webhook_endpoints.id"],
            ondelete="CASCADE",
            name="fk_webhook_deliveries_endpoint",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "event_id"],
            ["incident_events.tenant_id", "incident_events.id"],
            ondelete="CASCADE",
            name="fk_webhook_deliveries_event",
        ),
        # Head of line: deliveries of one incident to one endpoint go out in seq order.
        Index("ix_webhook_deliveries_line", "tenant_id", "endpoint_id", "incident_id", "event_seq"),
        Index("ix_webhook_deliveries_log", "tenant_id", "endpoint_id", "created_at"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_seq: Mapped[int] = mapped_column(BigInteger)
    event_kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    # The event's traceparent, copied at fan-out: the delivery is sent in the trace that caused it.
    traceparent: Mapped[str | None] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = enum_column(DeliveryStatus, default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = timestamp(default=utcnow)
    last_attempt_at: Mapped[datetime | None] = timestamp()
    response_status: Mapped[int | None] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = timestamp(default=utcnow)
    delivered_at: Mapped[datetime | None] = timestamp()


class WebhookAttempt(TenantOwned, Base):
    """The delivery log: one row per attempt, with what the endpoint answered or why it could not."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "delivery_id"],
            ["webhook_deliveries.tenant_id", "webhook_deliveries.id"],
            ondelete="CASCADE",
            name="fk_webhook_attempts_delivery",
        ),
        Index("ix_webhook_attempts_delivery", "tenant_id", "delivery_id", "number"),
    )

    delivery_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = timestamp(default=utcnow)
    response_status: Mapped[int | None] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
