"""Who hears of an incident by mail: a member's address and choices, and the incidents they watch.

A member's address and notification preferences are a table of their own rather than columns of
``memberships``: memberships decide who may do what, and every change to them tells every replica to
drop its cached principals (migration 0007's access notices). Changing one's mail preferences must not
do that. A member without a row here (or with no address) receives no mail; the preferences read as
all on until they are changed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKeyConstraint, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from domain.columns import timestamp, utcnow
from domain.db import Base


def _membership_fk(name: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "membership_id"],
        ["memberships.tenant_id", "memberships.id"],
        ondelete="CASCADE",
        name=name,
    )


def _choice() -> Mapped[bool]:
    return mapped_column(Boolean, default=True, server_default="true")


class NotificationPreferences(Base):
    """A member's mail address in a tenant, and which mails they want there."""

    __tablename__ = "notification_preferences"
    __table_args__ = (_membership_fk("fk_notification_preferences_membership"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    membership_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    # Customers' mails: the PUBLIC updates of incidents they reported or watch, the resolution (with
    # links to confirm or reopen it) and, once closed, the satisfaction survey.
    public_updates: Mapped[bool] = _choice()
    resolution: Mapped[bool] = _choice()
    survey: Mapped[bool] = _choice()
    # Staff's mails: an incident assigned to them, and its SLA at risk.
    assignment: Mapped[bool] = _choice()
    sla_at_risk: Mapped[bool] = _choice()
    updated_at: Mapped[datetime] = timestamp(default=utcnow)


class IncidentWatcher(Base):
    """A member who follows an incident they did not report: its PUBLIC updates reach them by mail."""

    __tablename__ = "incident_watchers"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "incident_id"],
            ["incidents.tenant_id", "incidents.id"],
            ondelete="CASCADE",
            name="fk_incident_watchers_incident",
        ),
        _membership_fk("fk_incident_watchers_membership"),
        # A membership's watches, when it is removed (the cascade) or asked what it watches.
        Index("ix_incident_watchers_membership", "tenant_id", "membership_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    membership_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    watched_at: Mapped[datetime] = timestamp(default=utcnow)
