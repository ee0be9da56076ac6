"""Subscribers of a tenant's public status page, and the services each follows."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKeyConstraint, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from domain.columns import TenantOwned, timestamp, utcnow
from domain.db import Base


class StatusSubscriber(TenantOwned, Base):
    """One address following one tenant's page.

    Pending until confirmed (``confirmed_at`` NULL); following while confirmed and not unsubscribed;
    a row that unsubscribed is kept (``unsubscribed_at``), so that its links stay harmless and a second
    unsubscribe changes nothing. Subscribing again makes it pending again until the new link is followed.
    """

    __tablename__ = "status_subscribers"
    __table_args__ = (UniqueConstraint("tenant_id", "email", name="uq_status_subscribers_email"),)

    # Lower-cased whole: one mailbox is one subscriber, however a visitor types it.
    email: Mapped[str] = mapped_column(String(320))
    # True: every service of the page, those added later included; False: the rows of
    # ``status_subscriber_services``.
    all_services: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = timestamp(default=utcnow)
    confirmed_at: Mapped[datetime | None] = timestamp()
    unsubscribed_at: Mapped[datetime | None] = timestamp()

    @property
    def follows(self) -> bool:
        """Whether mails about bulletins go to the address."""
        return self.confirmed_at is not None and self.unsubscribed_at is None


class StatusSubscriberService(Base):
    """A service a subscriber chose to follow (when not following all)."""

    __tablename__ = "status_subscriber_services"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "subscriber_id"],
            ["status_subscribers.tenant_id", "status_subscribers.id"],
            ondelete="CASCADE",
            name="fk_status_subscriber_services_subscriber",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "service_id"],
            ["services.tenant_id", "services.id"],
            ondelete="CASCADE",
            name="fk_status_subscriber_services_service",
        ),
        # A service deleted from the catalogue drops its followers' rows through this index.
        Index("ix_status_subscriber_services_service", "tenant_id", "service_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subscriber_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    service_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
