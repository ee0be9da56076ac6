"""The pieces every incident use case is built from: input checks, loading an incident for change,
asking the status machine, and committing an accepted step with its one timeline event."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain import events
from domain.catalog.models import Service
from domain.columns import utcnow
from domain.errors import ErrorCode, Problem, Refused, invalid, not_found
from domain.incidents.enums import (
    Impact,
    IncidentEventKind,
    IncidentSource,
    IncidentStatus,
    Priority,
    Urgency,
    Visibility,
)
from domain.incidents.lifecycle import IncidentState, Operation, Request, Step, decide, priority_for
from domain.incidents.models import Incident, IncidentEvent, IncidentReview
from domain.sla import ledger as sla_ledger
from domain.tenancy.actor import Actor
from domain.tenancy.roles import Role
from domain.tenancy.roles import Scope as OAuthScope

MAX_TITLE = 300
MAX_TEXT = 20_000
MAX_NAME = 255
# How many incidents one call may name (links, affected tenants).
MAX_BATCH = 100

WRITE = OAuthScope.INCIDENTS_WRITE


def clean_text(value: str | None, limit: int, *field: str, required: bool = False) -> str | None:
    """``value`` stripped; refused when required and blank, or longer than ``limit``."""
    if value is None:
        if required:
            raise invalid("is required", *field)
        return None
    value = value.strip()
    if "\x00" in value:
        raise invalid("must not contain NUL characters", *field)
    if required and not value:
        raise invalid("must not be blank", *field)
    if len(value) > limit:
        raise invalid(f"must be at most {limit} characters", *field)
    return value


def required_text(value: str | None, limit: int, *field: str) -> str:
    cleaned = clean_text(value, limit, *field, required=True)
    assert cleaned is not None
    return cleaned


def member_role(actor: Actor, tenant_id: uuid.UUID, scope: str, what: str, *field: str) -> Role:
    """The actor's role in the tenant when its token carries ``scope``; a foreign tenant is NOT_FOUND."""
    role = actor.role_in(tenant_id)
    if role is None:
        raise not_found("tenant", *(field or ("tenant",)))
    if not actor.can(scope, tenant_id):
        raise Refused.one(ErrorCode.FORBIDDEN, f"{what} needs the {scope} scope")
    return role


async def check_service(
    session: AsyncSession, tenant_id: uuid.UUID, service_id: uuid.UUID, *field: str
) -> None:
    found = await session.scalar(
        select(Service.id).where(Service.tenant_id == tenant_id, Service.id == service_id)
    )
    if found is None:
        raise not_found("service", *field)


async def load_for_update(
    session: AsyncSession,
    actor: Actor,
    incident_id: uuid.UUID,
    expected_version: int | None,
    scope: str = WRITE,
    field: tuple[str, ...] = ("incident_id",),
) -> tuple[Incident, Role]:
    """The incident, row-locked until commit, and the actor's role in its tenant.

    Absent, or in a tenant the actor is no member of: NOT_FOUND. A stale ``expected_version``: CONFLICT.
    """
    incident = await session.scalar(
        select(Incident)
        .where(Incident.id == incident_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    role = actor.role_in(incident.tenant_id) if incident is not None else None
    if incident is None or role is None:
        raise not_found("incident", *field)
    if not actor.can(scope, incident.tenant_id):
        raise Refused.one(ErrorCode.FORBIDDEN, f"this needs the {scope} scope")
    if expected_version is not None and expected_version != incident.version:
        raise Refused.one(
            ErrorCode.CONFLICT,
            f"the incident is at version {incident.version}, not {expected_version}; reload and retry",
            "expected_version",
        )
    return incident, role


def state_of(incident: Incident, *, review_published: bool = False) -> IncidentState:
    return IncidentState(
        status=incident.status,
        responded=incident.responded_at is not None,
        on_hold_reason=incident.on_hold_reason,
        rated=incident.satisfaction_score is not None,
        major=incident.major,
        review_published=review_published,
    )


def is_reporter(incident: Incident, actor: Actor) -> bool:
    return incident.reported_by == actor.subject and incident.reported_by_issuer == actor.issuer


def step(
    incident: Incident,
    actor: Actor,
    role: Role,
    operation: Operation,
    *,
    review_published: bool = False,
    **kwargs: Any,
) -> Step:
    """The status machine's answer for the actor; a refusal raises (and so rolls everything back)."""
    request = Request(operation=operation, role=role, is_reporter=is_reporter(incident, actor), **kwargs)
    outcome = decide(state_of(incident, review_published=review_published), request)
    if isinstance(outcome, Problem):
        raise Refused([outcome])
    return outcome


def system_step(
    incident: Incident, operation: Operation, *, review_published: bool = False, **kwargs: Any
) -> Step | None:
    """The status machine's answer for work the service does by itself; None when it does not apply."""
    request = Request(operation=operation, role=Role.MANAGER, system=True, **kwargs)
    outcome = decide(state_of(incident, review_published=review_published), request)
    return None if isinstance(outcome, Problem) else outcome


async def review_published(session: AsyncSession, incident: Incident) -> bool:
    found = await session.scalar(
        select(IncidentReview.published).where(
            IncidentReview.tenant_id == incident.tenant_id, IncidentReview.incident_id == incident.id
        )
    )
    return bool(found)


async def commit_step(
    session: AsyncSession,
    incident: Incident,
    accepted: Step,
    actor: Actor | str | None,
    *,
    visibility: Visibility = Visibility.PUBLIC,
    message: str | None = None,
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    """Apply an accepted step: new status and its timestamps, first response, version bump, and its one
    timeline event. ``actor`` None (or a bare subject) is the system acting on its own."""
    now = utcnow()
    clocks_before = sla_ledger.clock_facts(incident, as_loaded=True)
    before = incident.status
    after = accepted.state.status
    incident.status = after
    incident.on_hold_reason = accepted.state.on_hold_reason
    incident.major = accepted.state.major
    if accepted.responds:
        incident.responded_at = now
    if after is IncidentStatus.RESOLVED and before is not IncidentStatus.RESOLVED:
        incident.resolved_at = now
    elif before is IncidentStatus.RESOLVED and after is IncidentStatus.IN_PROGRESS:
        # Reopened: the resolution was rejected, and auto-close must not count from it any more.
        incident.resolved_at = None
        incident.resolution_code = None
        incident.resolution_notes = None
        incident.resolved_by = None
    if after is IncidentStatus.CLOSED and before is not IncidentStatus.CLOSED:
        incident.closed_at = now
    incident.version += 1
    incident.updated_at = now
    subject = actor if isinstance(actor, str) or actor is None else actor.subject
    event = await events.record(
        session,
        incident,
        accepted.event,
        visibility=visibility,
        actor=subject,
        message=message,
        data=data,
        at=now,
    )
    # The SLA clock ledger: status, first response and any priority change made on the way here.
    await sla_ledger.record_transition(session, incident, clocks_before, at=now)
    return event


__all__ = [
    "MAX_BATCH",
    "MAX_NAME",
    "MAX_TEXT",
    "MAX_TITLE",
    "WRITE",
    "check_service",
    "clean_text",
    "commit_step",
    "is_reporter",
    "load_for_update",
    "member_role",
    "required_text",
    "review_published",
    "state_of",
    "step",
    "system_step",
]


async def open_incident(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    title: str,
    description: str,
    source: IncidentSource,
    impact: Impact,
    urgency: Urgency,
    reported_by: tuple[str, str],
    priority: Priority | None = None,
    priority_overridden: bool = False,
    category: str | None = None,
    service_id: uuid.UUID | None = None,
    detected_at: datetime | None = None,
    alert_dedup_key: str | None = None,
    created: Mapping[str, Any] | None = None,
) -> Incident:
    """Log a new incident: the tenant's next number, the row, its CREATED event, and the start of its SLA
    clocks. Every way an incident comes to be (a report, an alert, a provider outage reaching a customer)
    goes through here, so none of them can forget a part.

    ``reported_by`` is (subject, issuer); ``priority`` defaults to the matrix's; ``created`` adds to the
    CREATED event's data.
    """
    now = utcnow()
    subject, issuer = reported_by
    incident = Incident(
        tenant_id=tenant_id,
        id=uuid.uuid4(),
        number=await events.next_incident_number(session, tenant_id),
        title=title,
        description=description,
        status=IncidentStatus.NEW,
        source=source,
        category=category,
        impact=impact,
        urgency=urgency,
        priority=priority or priority_for(impact, urgency),
        priority_overridden=priority_overridden,
        major=False,
        service_id=service_id,
        reported_by=subject,
        reported_by_issuer=issuer,
        escalated_to_managers=False,
        affected_tenant_ids=[],
        version=1,
        detected_at=detected_at,
        reported_at=now,
        updated_at=now,
        alert_dedup_key=alert_dedup_key,
        alert_count=1 if alert_dedup_key is not None else 0,
    )
    session.add(incident)
    await session.flush()
    await events.record(
        session,
        incident,
        IncidentEventKind.CREATED,
        visibility=Visibility.PUBLIC,
        actor=subject,
        message=title,
        data={"source": source.value, "priority": incident.priority.value, **(created or {})},
        at=now,
    )
    await sla_ledger.record_transition(session, incident, None, at=now)  # START of the SLA clocks
    return incident
