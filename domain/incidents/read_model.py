"""What clients read of incidents, their timelines, swarms and checklists (see domain/reads/model.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, func, select
from sqlalchemy.orm import aliased

from domain.incidents import models as m
from domain.incidents.enums import Visibility
from domain.reads.cursors import cursor_sql, encode_cursor
from domain.reads.model import (
    Alias,
    Attribute,
    Cardinality,
    Derived,
    Embedded,
    Entity,
    Kind,
    Relation,
    SortKey,
    attributes,
    relations,
)
from domain.reads.sql import const
from domain.visibility import Hidden


def _display_number(i: Alias) -> ColumnElement[Any]:
    # f"INC-{number:06d}": zero-padded to six digits, never cut (lpad would truncate longer numbers).
    digits = cast(i.number, String)
    return const("INC-") + case((i.number < 1_000_000, func.lpad(digits, 6, "0")), else_=digits)


def _time_spent(i: Alias) -> ColumnElement[Any]:
    log = aliased(m.WorkLogEntry)
    return (
        select(func.coalesce(func.sum(log.minutes), 0))
        .where(log.tenant_id == i.tenant_id, log.incident_id == i.id)
        .scalar_subquery()
    )


def _linked(parent: Alias, child: Alias) -> ColumnElement[bool]:
    """``child`` is linked under ``parent`` (the link row lives in the child's tenant)."""
    link = aliased(m.IncidentLink)
    # Both ends come from enclosing queries, however deeply nested: only the link is this query's own.
    return (
        select(link.tenant_id)
        .where(
            link.tenant_id == child.tenant_id,
            link.child_id == child.id,
            link.parent_tenant_id == parent.tenant_id,
            link.parent_id == parent.id,
        )
        .correlate_except(link)
        .exists()
    )


def _not_blank(*columns: str) -> Derived:
    def sql(i: Alias) -> ColumnElement[Any]:
        return and_(*(getattr(i, c).is_not(None) for c in columns))

    def python(row: Any) -> bool:
        return all(getattr(row, c) is not None for c in columns)

    return Derived(sql, python)


def _or_empty(column: str) -> Derived:
    return Derived(
        lambda i: func.coalesce(getattr(i, column), ""),
        lambda row: getattr(row, column) or "",
    )


INCIDENT = Entity(
    name="Incident",
    model=m.Incident,
    attributes=attributes(
        Attribute("id", Kind.ID, nullable=False),
        Attribute(
            "number",
            Kind.TEXT,
            derived=Derived(_display_number, lambda row: row.display_number),
            nullable=False,
        ),
        Attribute("title", Kind.TEXT, nullable=False),
        Attribute("description", Kind.TEXT, nullable=False),
        Attribute("status", Kind.ENUM, nullable=False),
        Attribute("source", Kind.ENUM, nullable=False),
        Attribute("category", Kind.TEXT),
        Attribute("impact", Kind.ENUM, nullable=False),
        Attribute("urgency", Kind.ENUM, nullable=False),
        Attribute("priority", Kind.ENUM, nullable=False),
        Attribute("priority_overridden", Kind.BOOL, nullable=False),
        Attribute("major", Kind.BOOL, nullable=False),
        Attribute("reported_by", Kind.TEXT, nullable=False),
        Attribute("assignee", Kind.TEXT),
        Attribute("assignment_group", Kind.TEXT),
        Attribute("workaround", Kind.TEXT),
        Attribute("on_hold_reason", Kind.ENUM),
        Attribute("version", Kind.INT, nullable=False),
        Attribute("detected_at", Kind.DATETIME),
        Attribute("reported_at", Kind.DATETIME, nullable=False),
        Attribute("responded_at", Kind.DATETIME),
        Attribute("resolved_at", Kind.DATETIME),
        Attribute("closed_at", Kind.DATETIME),
        Attribute("updated_at", Kind.DATETIME, nullable=False),
        Attribute("cancel_reason", Kind.TEXT),
        # The vendor of a functional escalation, and the managers' flag, are the provider's business.
        Attribute("vendor", Kind.TEXT, internal=Hidden.NULL),
        Attribute("vendor_ticket", Kind.TEXT, internal=Hidden.NULL),
        Attribute("escalated_to_managers", Kind.BOOL, nullable=False, internal=Hidden.FALSE),
        # Summed by the database; a loaded row does not carry it.
        Attribute(
            "time_spent_minutes",
            Kind.INT,
            derived=Derived(_time_spent),
            nullable=False,
        ),
    ),
    embedded={
        "resolution": Embedded(
            "resolution",
            present_when=_not_blank("resolution_code", "resolved_at"),
            attributes=attributes(
                Attribute("code", Kind.ENUM, column="resolution_code", nullable=False),
                Attribute("notes", Kind.TEXT, derived=_or_empty("resolution_notes"), nullable=False),
                Attribute("resolved_by", Kind.TEXT, derived=_or_empty("resolved_by"), nullable=False),
                Attribute("at", Kind.DATETIME, column="resolved_at", nullable=False),
            ),
        ),
        "satisfaction": Embedded(
            "satisfaction",
            present_when=_not_blank("satisfaction_score", "rated_at"),
            attributes=attributes(
                Attribute("score", Kind.INT, column="satisfaction_score", nullable=False),
                Attribute("comment", Kind.TEXT, column="satisfaction_comment"),
                Attribute("at", Kind.DATETIME, column="rated_at", nullable=False),
            ),
        ),
    },
    relations=relations(
        Relation("tenant", "Tenant", Cardinality.ONE, lambda i, t: t.id == i.tenant_id),
        Relation(
            "service",
            "Service",
            Cardinality.ONE,
            lambda i, s: and_(s.tenant_id == i.tenant_id, s.id == i.service_id),
        ),
        # Who works the incident inside the provider is internal work: customers see the incident only.
        Relation(
            "responders",
            "Responder",
            Cardinality.LIST,
            lambda i, r: and_(r.tenant_id == i.tenant_id, r.incident_id == i.id),
            order=("added_at", "subject"),
            internal=Hidden.EMPTY,
        ),
        # The checklist may name internal hosts and runbooks: the provider's business too.
        Relation(
            "tasks",
            "IncidentTask",
            Cardinality.LIST,
            lambda i, t: and_(t.tenant_id == i.tenant_id, t.incident_id == i.id),
            order=("position",),
            internal=Hidden.EMPTY,
        ),
        # The parent may live in another tenant: outside the reader's scope it reads as absent (RLS).
        Relation("parent", "Incident", Cardinality.ONE, lambda i, p: _linked(p, i)),
        Relation(
            "children",
            "Incident",
            Cardinality.PAGE,
            lambda i, c: _linked(i, c),
            sort=SortKey(("reported_at", "id")),
        ),
        Relation(
            "timeline",
            "IncidentEvent",
            Cardinality.PAGE,
            lambda i, e: and_(e.tenant_id == i.tenant_id, e.incident_id == i.id),
            sort=SortKey(("seq",)),
        ),
    ),
)


def event_cursor(e: Alias) -> ColumnElement[str]:
    return cursor_sql([(e.seq, int)])


INCIDENT_EVENT = Entity(
    name="IncidentEvent",
    model=m.IncidentEvent,
    attributes=attributes(
        Attribute("id", Kind.ID, nullable=False),
        Attribute(
            "cursor",
            Kind.TEXT,
            derived=Derived(event_cursor, lambda row: encode_cursor([row.seq])),
            nullable=False,
        ),
        Attribute("kind", Kind.ENUM, nullable=False),
        Attribute("visibility", Kind.ENUM, nullable=False),
        Attribute("actor", Kind.TEXT),
        Attribute("message", Kind.TEXT),
        Attribute("data", Kind.JSON, nullable=False),
        Attribute("at", Kind.DATETIME, nullable=False),
    ),
    relations=relations(
        Relation(
            "incident",
            "Incident",
            Cardinality.ONE,
            lambda e, i: and_(i.tenant_id == e.tenant_id, i.id == e.incident_id),
        ),
    ),
    # INTERNAL work notes and events never reach a customer.
    public_rows=lambda e: e.visibility == Visibility.PUBLIC,
)

RESPONDER = Entity(
    name="Responder",
    model=m.Responder,
    attributes=attributes(
        Attribute("subject", Kind.TEXT, nullable=False),
        Attribute("role", Kind.ENUM, nullable=False),
        Attribute("added_at", Kind.DATETIME, nullable=False),
    ),
)

INCIDENT_TASK = Entity(
    name="IncidentTask",
    model=m.IncidentTask,
    attributes=attributes(
        Attribute("id", Kind.ID, nullable=False),
        Attribute("title", Kind.TEXT, nullable=False),
        Attribute("done", Kind.BOOL, nullable=False),
    ),
)
