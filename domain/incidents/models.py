"""Incident tables: the incident, its timeline (the outbox), links, responders, tasks and work log; the
incident models (playbooks) and reviews (postmortems) beside it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.columns import TenantOwned, enum_column, timestamp, utcnow
from domain.db import Base
from domain.incidents.enums import (
    HoldReason,
    Impact,
    IncidentEventKind,
    IncidentSource,
    IncidentStatus,
    Priority,
    ResolutionCode,
    ResponderRole,
    Urgency,
    Visibility,
)


def _incident_fk(name: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "incident_id"],
        ["incidents.tenant_id", "incidents.id"],
        ondelete="CASCADE",
        name=name,
    )


class Incident(TenantOwned, Base):
    __tablename__ = "incidents"
    # Also indexed, by the migration: full-text search over title and description (ix_incidents_search),
    # an expression index that the incidents filter's SEARCH_DOCUMENT matches.
    __table_args__ = (
        UniqueConstraint("tenant_id", "number", name="uq_incidents_number"),
        ForeignKeyConstraint(
            ["tenant_id", "service_id"], ["services.tenant_id", "services.id"], name="fk_incidents_service"
        ),
        Index("ix_incidents_reported", "tenant_id", "reported_at", "id"),
        Index("ix_incidents_updated", "tenant_id", "updated_at", "id"),
        Index("ix_incidents_priority", "tenant_id", "priority", "id"),
        Index("ix_incidents_status", "tenant_id", "status"),
        Index("ix_incidents_assignee", "tenant_id", "assignee"),
        Index("ix_incidents_service", "tenant_id", "service_id"),
        Index("ix_incidents_sla_breached", "tenant_id", "sla_breached"),
        ForeignKeyConstraint(
            ["tenant_id", "model_id"],
            ["incident_models.tenant_id", "incident_models.id"],
            name="fk_incidents_model",
        ),
        # Auto-close scans RESOLVED incidents by resolution time across tenants.
        Index("ix_incidents_auto_close", "status", "resolved_at"),
        # Alert intake: at most one open incident per dedup key and tenant, so concurrent triggers of the
        # same alert can never open two incidents (migration 0004).
        Index(
            "uq_incidents_open_alert",
            "tenant_id",
            "alert_dedup_key",
            unique=True,
            postgresql_where=text(
                "alert_dedup_key IS NOT NULL AND status IN ('NEW', 'IN_PROGRESS', 'ON_HOLD')"
            ),
        ),
    )

    number: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[IncidentStatus] = enum_column(IncidentStatus, default=IncidentStatus.NEW)
    source: Mapped[IncidentSource] = enum_column(IncidentSource)
    category: Mapped[str | None] = mapped_column(String(100))
    impact: Mapped[Impact] = enum_column(Impact)
    urgency: Mapped[Urgency] = enum_column(Urgency)
    priority: Mapped[Priority] = enum_column(Priority)
    priority_overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    major: Mapped[bool] = mapped_column(Boolean, default=False)
    service_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reported_by: Mapped[str] = mapped_column(String(255))
    reported_by_issuer: Mapped[str] = mapped_column(String(500))
    assignee: Mapped[str | None] = mapped_column(String(255))
    assignment_group: Mapped[str | None] = mapped_column(String(200))
    workaround: Mapped[str | None] = mapped_column(Text)
    on_hold_reason: Mapped[HoldReason | None] = enum_column(HoldReason, nullable=True)
    resolution_code: Mapped[ResolutionCode | None] = enum_column(ResolutionCode, nullable=True)
    resolution_notes: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(255))
    satisfaction_score: Mapped[int | None] = mapped_column(SmallInteger)
    satisfaction_comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None] = timestamp()
    # The incident model applied last, if any.
    model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Functional escalation to a vendor, with the vendor's own ticket reference.
    vendor: Mapped[str | None] = mapped_column(String(200))
    vendor_ticket: Mapped[str | None] = mapped_column(String(200))
    # Hierarchical escalation: flagged for the managers' attention.
    escalated_to_managers: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    escalated_at: Mapped[datetime | None] = timestamp()
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # Tenants that hold a child of this incident made by affectTenants (their links live in those tenants).
    affected_tenant_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(Uuid), default=list, server_default="{}"
    )
    # Set once either SLA clock breaches; kept as a column so "breached incidents" is an index scan.
    sla_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    detected_at: Mapped[datetime | None] = timestamp()
    reported_at: Mapped[datetime] = timestamp(default=utcnow)
    responded_at: Mapped[datetime | None] = timestamp()
    resolved_at: Mapped[datetime | None] = timestamp()
    closed_at: Mapped[datetime | None] = timestamp()
    updated_at: Mapped[datetime] = timestamp(default=utcnow)
    # Alert intake: the dedup key of the monitoring alert this incident answers, and how many times the
    # alert has fired into it (the first trigger included).
    alert_dedup_key: Mapped[str | None] = mapped_column(String(255))
    alert_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def display_number(self) -> str:
        return display_number(self.number)


def display_number(number: int) -> str:
    """How people name an incident: ``INC-000042``, numbered per tenant."""
    return f"INC-{number:06d}"


class IncidentEvent(TenantOwned, Base):
    """One entry of an incident's timeline, written in the same transaction as the change it records.

    ``seq`` is allocated per tenant under the tenant counter's row lock, so within a tenant it follows
    commit order: a reader resuming after a cursor never misses a later-committed, lower-numbered event.
    """

    __tablename__ = "incident_events"
    __table_args__ = (
        _incident_fk("fk_incident_events_incident"),
        UniqueConstraint("tenant_id", "seq", name="uq_incident_events_seq"),
        Index("ix_incident_events_incident", "tenant_id", "incident_id", "seq"),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[IncidentEventKind] = enum_column(IncidentEventKind)
    visibility: Mapped[Visibility] = enum_column(Visibility)
    actor: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    at: Mapped[datetime] = timestamp(default=utcnow)
    # The W3C traceparent of the request that wrote the event, when it was traced: the webhooks it causes
    # are sent in the same trace (domain/trace_context.py). Deferred: only the webhook fan-out reads it.
    traceparent: Mapped[str | None] = mapped_column(Text, deferred=True)


class IncidentLink(Base):
    """A child incident's one parent. The parent may live in another tenant (``affectTenants``), so the
    parent is a plain ``(parent_tenant_id, parent_id)`` pair that the service checks, not a foreign key."""

    __tablename__ = "incident_links"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "child_id"],
            ["incidents.tenant_id", "incidents.id"],
            ondelete="CASCADE",
            name="fk_incident_links_child",
        ),
        Index("ix_incident_links_parent", "parent_tenant_id", "parent_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    child_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    parent_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    parent_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    linked_by: Mapped[str | None] = mapped_column(String(255))
    linked_at: Mapped[datetime] = timestamp(default=utcnow)


class Responder(Base):
    """A member of a major incident's swarm."""

    __tablename__ = "responders"
    __table_args__ = (_incident_fk("fk_responders_incident"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    role: Mapped[ResponderRole] = enum_column(ResponderRole)
    added_at: Mapped[datetime] = timestamp(default=utcnow)


class IncidentTask(TenantOwned, Base):
    """An item of the incident's checklist."""

    __tablename__ = "incident_tasks"
    __table_args__ = (
        _incident_fk("fk_incident_tasks_incident"),
        Index("ix_incident_tasks_incident", "tenant_id", "incident_id", "position"),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    done: Mapped[bool] = mapped_column(Boolean, default=False)


class WorkLogEntry(TenantOwned, Base):
    """Time spent handling an incident, for billing of handling activities.

    ``worked_at`` is when the work was done (the tenant's local month of it is the billing month the
    entry belongs to); ``logged_at`` when it was recorded. ``author_issuer`` is null for entries logged
    before it was kept: only a MANAGER may change those.
    """

    __tablename__ = "work_log"
    __table_args__ = (
        _incident_fk("fk_work_log_incident"),
        Index("ix_work_log_incident", "tenant_id", "incident_id"),
        # Work reports read a tenant's entries by the time the work was done.
        Index("ix_work_log_worked", "tenant_id", "worked_at"),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    author: Mapped[str] = mapped_column(String(255))
    author_issuer: Mapped[str | None] = mapped_column(String(500))
    minutes: Mapped[int] = mapped_column(Integer)
    billable: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    note: Mapped[str | None] = mapped_column(Text)
    worked_at: Mapped[datetime] = timestamp(default=utcnow)
    logged_at: Mapped[datetime] = timestamp(default=utcnow)


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
