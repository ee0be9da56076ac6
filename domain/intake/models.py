"""Integration keys: the routing keys monitoring tools send their alerts with."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKeyConstraint,
    Identity,
    Index,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.columns import TenantOwned, timestamp, utcnow
from domain.db import Base


class IntegrationKey(TenantOwned, Base):
    """A tenant's integration key, optionally bound to one of its services.

    The intake endpoint knows only the routing key, so it finds the row across tenants through a narrow
    self-lookup policy (``integration_key_lookup``, migration 0004) keyed by ``app.routing_key``. Keys are
    128 random bits: unique per tenant by constraint, and in practice across tenants too.
    """

    __tablename__ = "integration_keys"
    __table_args__ = (
        UniqueConstraint("tenant_id", "routing_key", name="uq_integration_keys_routing_key"),
        UniqueConstraint("tenant_id", "name", name="uq_integration_keys_name"),
        ForeignKeyConstraint(
            ["tenant_id", "service_id"],
            ["services.tenant_id", "services.id"],
            ondelete="CASCADE",
            name="fk_integration_keys_service",
        ),
        Index("ix_integration_keys_routing_key", "routing_key"),
    )

    name: Mapped[str] = mapped_column(String(200))
    service_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    routing_key: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = timestamp(default=utcnow)


class Alert(TenantOwned, Base):
    """An alert as the intake accepted it, before and after it was applied: the inbox the intake answers
    from (202 once the row is stored) and the integration's alert log.

    ``body`` is the Events API v2 body without its routing key (the key is a credential and is not kept
    twice); ``dedup_key`` is the one answered, made by the intake when a trigger came without one.
    ``position`` orders the alerts of a tenant as they were accepted.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "integration_key_id"],
            ["integration_keys.tenant_id", "integration_keys.id"],
            ondelete="CASCADE",
            name="fk_alerts_integration_key",
        ),
        Index("ix_alerts_pending", "tenant_id", "position", postgresql_where=text("processed_at IS NULL")),
        Index("ix_alerts_log", "tenant_id", "integration_key_id", "position"),
        Index("ix_alerts_processed", "processed_at"),
    )

    position: Mapped[int] = mapped_column(BigInteger, Identity(always=False))
    integration_key_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(255))
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = timestamp()
    processed_at: Mapped[datetime | None] = timestamp(nullable=True)
    # What became of it, in the words the intake used to answer with ("Event processed; ...").
    outcome: Mapped[str | None] = mapped_column(String(200), nullable=True)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
