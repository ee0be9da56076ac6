"""Bulletin tables: the bulletin, its updates, the services it declares a status for, the derived
status of each service, and the bulletin outbox (``bulletin_events``).

Bulletin changes and service status changes are live events like the incident timeline's: each is a
``bulletin_events`` row written in the change's transaction, numbered from the same per-tenant counter
as ``incident_events.seq`` (``tenant_counters.last_event_seq``), so one number orders every live event
of a tenant in commit order, and announced on the same NOTIFY channel (see ``domain/outbox``).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.bulletins.phases import BulletinKind, BulletinPhase, ServiceStatus
from domain.columns import TenantOwned, enum_column, timestamp, utcnow
from domain.db import Base


def _bulletin_fk(name: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "bulletin_id"], ["bulletins.tenant_id", "bulletins.id"], ondelete="CASCADE", name=name
    )


def _service_fk(name: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "service_id"], ["services.tenant_id", "services.id"], ondelete="CASCADE", name=name
    )


class Bulletin(TenantOwned, Base):
    """One tenant's copy of a bulletin. A provider-wide outage is one row per tenant, sharing a
    ``broadcast_id``."""

    __tablename__ = "bulletins"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "incident_id"],
            ["incidents.tenant_id", "incidents.id"],
            name="fk_bulletins_incident",
        ),
        Index("ix_bulletins_created", "tenant_id", "created_at", "id"),
        Index("ix_bulletins_broadcast", "tenant_id", "broadcast_id"),
        # The phase mover's scan: open maintenance windows of every tenant.
        Index("ix_bulletins_kind_phase", "kind", "phase"),
    )

    broadcast_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[BulletinKind] = enum_column(BulletinKind)
    title: Mapped[str] = mapped_column(String(300))
    phase: Mapped[BulletinPhase] = enum_column(BulletinPhase)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    scheduled_start: Mapped[datetime | None] = timestamp()
    scheduled_end: Mapped[datetime | None] = timestamp()
    published_at: Mapped[datetime | None] = timestamp()
    created_by: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = timestamp(default=utcnow)
    updated_at: Mapped[datetime] = timestamp(default=utcnow)


class BulletinUpdate(TenantOwned, Base):
    """A dated message of a bulletin, with the phase it announced."""

    __tablename__ = "bulletin_updates"
    __table_args__ = (
        _bulletin_fk("fk_bulletin_updates_bulletin"),
        Index("ix_bulletin_updates_bulletin", "tenant_id", "bulletin_id", "at"),
    )

    bulletin_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    phase: Mapped[BulletinPhase] = enum_column(BulletinPhase)
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = timestamp(default=utcnow)


class BulletinService(Base):
    """The status a bulletin declares for one of its tenant's services."""

    __tablename__ = "bulletin_services"
    __table_args__ = (
        _bulletin_fk("fk_bulletin_services_bulletin"),
        _service_fk("fk_bulletin_services_service"),
        Index("ix_bulletin_services_service", "tenant_id", "service_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    bulletin_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    service_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[ServiceStatus] = enum_column(ServiceStatus)


class ServiceStatusRow(Base):
    """A service's current status, kept by every bulletin change (no row: OPERATIONAL)."""

    __tablename__ = "service_statuses"
    __table_args__ = (_service_fk("fk_service_statuses_service"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    service_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[ServiceStatus] = enum_column(ServiceStatus)
    changed_at: Mapped[datetime] = timestamp(default=utcnow)


class BulletinEventKind(enum.StrEnum):
    BULLETIN_CHANGED = "BULLETIN_CHANGED"
    SERVICE_STATUS_CHANGED = "SERVICE_STATUS_CHANGED"


class BulletinEvent(TenantOwned, Base):
    """The bulletin outbox: one row per bulletin change or service status change."""

    __tablename__ = "bulletin_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq", name="uq_bulletin_events_seq"),
        _bulletin_fk("fk_bulletin_events_bulletin"),
        _service_fk("fk_bulletin_events_service"),
    )

    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[BulletinEventKind] = enum_column(BulletinEventKind)
    bulletin_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Whether the bulletin was published after this change: unpublished drafts never reach customers.
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    service_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[ServiceStatus | None] = enum_column(ServiceStatus, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    at: Mapped[datetime] = timestamp(default=utcnow)
