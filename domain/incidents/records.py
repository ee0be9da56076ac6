"""Records of the practice beside the incident: incident models (playbooks) and reviews (postmortems).

Both are tenant-owned: ``(tenant_id, id)`` primary keys, foreign keys that carry ``tenant_id``.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from domain.columns import TenantOwned, enum_column, timestamp, utcnow
from domain.db import Base
from domain.incidents.enums import Impact, Urgency


class IncidentModel(TenantOwned, Base):
    """A repeatable way to handle a known type of incident: match rules and the defaults it applies.

    Rules that are set must all hold (category, service, at least one keyword in the title or
    description); a model without any rule is applied only by hand. On report, the oldest matching
    model wins.
    """

    __tablename__ = "incident_models"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_incident_models_name"),
        ForeignKeyConstraint(
            ["tenant_id", "match_service_id"],
            ["services.tenant_id", "services.id"],
            name="fk_incident_models_service",
        ),
        Index("ix_incident_models_created", "tenant_id", "created_at", "id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    match_category: Mapped[str | None] = mapped_column(String(100))
    match_service_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    match_keywords: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    category: Mapped[str | None] = mapped_column(String(100))
    impact: Mapped[Impact | None] = enum_column(Impact, nullable=True)
    urgency: Mapped[Urgency | None] = enum_column(Urgency, nullable=True)
    assignment_group: Mapped[str | None] = mapped_column(String(200))
    workaround: Mapped[str | None] = mapped_column(Text)
    tasks: Mapped[list[str]] = mapped_column(ARRAY(String(300)), default=list)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = timestamp(default=utcnow)


class IncidentReview(TenantOwned, Base):
    """The review (postmortem) of one incident; a MANAGER publishes it."""

    __tablename__ = "incident_reviews"
    __table_args__ = (
        UniqueConstraint("tenant_id", "incident_id", name="uq_incident_reviews_incident"),
        ForeignKeyConstraint(
            ["tenant_id", "incident_id"],
            ["incidents.tenant_id", "incidents.id"],
            ondelete="CASCADE",
            name="fk_incident_reviews_incident",
        ),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    summary: Mapped[str] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    what_went_well: Mapped[str | None] = mapped_column(Text)
    what_went_wrong: Mapped[str | None] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    published_by: Mapped[str | None] = mapped_column(String(255))
    published_at: Mapped[datetime | None] = timestamp()
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = timestamp(default=utcnow)
    updated_at: Mapped[datetime] = timestamp(default=utcnow)


class ReviewActionItem(TenantOwned, Base):
    """An action item of a review, handed to problem management through its problem reference."""

    __tablename__ = "review_action_items"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "review_id"],
            ["incident_reviews.tenant_id", "incident_reviews.id"],
            ondelete="CASCADE",
            name="fk_review_action_items_review",
        ),
        Index("ix_review_action_items_review", "tenant_id", "review_id", "position"),
    )

    review_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    owner: Mapped[str | None] = mapped_column(String(255))
    due_date: Mapped[date | None] = mapped_column(Date)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    problem_ref: Mapped[str | None] = mapped_column(String(100))
