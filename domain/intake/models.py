"""Integration keys: the routing keys monitoring tools send their alerts with."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKeyConstraint, Index, String, UniqueConstraint, Uuid
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
