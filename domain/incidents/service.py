"""Incident use cases. Each is one function running in one transaction; a refusal writes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain import events
from domain.catalog.models import Service
from domain.columns import utcnow
from domain.db import Database, Scope
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
from domain.incidents.models import Incident, IncidentEvent
from domain.tenancy.actor import Actor
from domain.tenancy.roles import Role, at_least
from domain.tenancy.roles import Scope as OAuthScope

MAX_TITLE = 300
MAX_TEXT = 20_000
MAX_NAME = 255
# Clocks of monitoring tools drift; a detection time a little in the future is still believable.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class NewIncident:
    tenant_id: uuid.UUID
    title: str
    description: str
    service_id: uuid.UUID | None = None
    impact: Impact | None = None
    urgency: Urgency | None = None
    category: str | None = None
    detected_at: datetime | None = None


@dataclass(frozen=True)
class Classification:
    category: str | None = None
    impact: Impact | None = None
    urgency: Urgency | None = None
    service_id: uuid.UUID | None = None
    priority_override: Priority | None = None
    override_reason: str | None = None


def _text(value: str | None, limit: int, *field: str, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise invalid("is required", *field)
        return None
    value = value.strip()
    if required and not value:
        raise invalid("must not be blank", *field)
    if len(value) > limit:
        raise invalid(f"must be at most {limit} characters", *field)
    return value


def source_for(actor: Actor, role: Role) -> IncidentSource:
    if actor.client_id is not None:
        return IncidentSource.PARTNER_API
    return IncidentSource.SERVICE_DESK if at_least(role, Role.AGENT) else IncidentSource.USER_REPORT


async def _check_service(
    session: AsyncSession, tenant_id: uuid.UUID, service_id: uuid.UUID, *field: str
) -> None:
    found = await session.scalar(
        select(Service.id).where(Service.tenant_id == tenant_id, Service.id == service_id)
    )
    if found is None:
        raise not_found("service", *field)


async def report_incident(db: Database, actor: Actor, new: NewIncident) -> Incident:
    role = _member_role(actor, new.tenant_id, OAuthScope.INCIDENTS_WRITE, "reporting an incident")
    title = _text(new.title, MAX_TITLE, "input", "title", required=True)
    description = _text(new.description, MAX_TEXT, "input", "description") or ""
    category = _text(new.category, 100, "input", "category")
    now = utcnow()
    if new.detected_at is not None and new.detected_at > now + CLOCK_SKEW:
        raise invalid("must not be in the future", "input", "detectedAt")
    impact = new.impact or Impact.MEDIUM
    urgency = new.urgency or Urgency.MEDIUM
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        if new.service_id is not None:
            await _check_service(session, new.tenant_id, new.service_id, "input", "serviceId")
        incident = Incident(
            tenant_id=new.tenant_id,
            id=uuid.uuid4(),
            number=await events.next_incident_number(session, new.tenant_id),
            title=title,
            description=description,
            status=IncidentStatus.NEW,
            source=source_for(actor, role),
            category=category,
            impact=impact,
            urgency=urgency,
            priority=priority_for(impact, urgency),
            priority_overridden=False,
            major=False,
            service_id=new.service_id,
            reported_by=actor.subject,
            reported_by_issuer=actor.issuer,
            version=1,
            detected_at=new.detected_at,
            reported_at=now,
            updated_at=now,
        )
        session.add(incident)
        await session.flush()
        await events.record(
            session,
            incident,
            IncidentEventKind.CREATED,
            visibility=Visibility.PUBLIC,
            actor=actor.subject,
            message=title,
            data={"source": incident.source.value, "priority": incident.priority.value},
            at=now,
        )
    return incident


def _member_role(actor: Actor, tenant_id: uuid.UUID, scope: str, what: str) -> Role:
    role = actor.role_in(tenant_id)
    if role is None:
        raise not_found("tenant", "input", "tenant")
    if not actor.can(scope, tenant_id):
        raise Refused.one(ErrorCode.FORBIDDEN, f"{what} needs the {scope} scope")
    return role


async def _load_for_update(
    session: AsyncSession, actor: Actor, incident_id: uuid.UUID, expected_version: int | None, scope: str
) -> tuple[Incident, Role]:
    incident = await session.scalar(select(Incident).where(Incident.id == incident_id).with_for_update())
    role = actor.role_in(incident.tenant_id) if incident is not None else None
    if incident is None or role is None:
        raise not_found("incident", "input", "id")
    if not actor.can(scope, incident.tenant_id):
        raise Refused.one(ErrorCode.FORBIDDEN, f"this needs the {scope} scope")
    if expected_version is not None and expected_version != incident.version:
        raise Refused.one(
            ErrorCode.CONFLICT,
            f"the incident is at version {incident.version}, not {expected_version}; reload and retry",
            "input",
            "expectedVersion",
        )
    return incident, role


def _step(incident: Incident, actor: Actor, role: Role, operation: Operation, **kwargs: Any) -> Step:
    state = IncidentState(
        status=incident.status,
        responded=incident.responded_at is not None,
        on_hold_reason=incident.on_hold_reason,
        rated=incident.satisfaction_score is not None,
    )
    is_reporter = incident.reported_by == actor.subject and incident.reported_by_issuer == actor.issuer
    outcome = decide(state, Request(operation=operation, role=role, is_reporter=is_reporter, **kwargs))
    if isinstance(outcome, Problem):
        raise Refused([outcome])
    return outcome


async def _commit_step(
    session: AsyncSession,
    incident: Incident,
    step: Step,
    actor: Actor,
    *,
    visibility: Visibility = Visibility.PUBLIC,
    message: str | None = None,
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    """Apply an accepted step: new status, first response, version bump, and its one timeline event."""
    now = utcnow()
    incident.status = step.state.status
    incident.on_hold_reason = step.state.on_hold_reason
    if step.responds:
        incident.responded_at = now
    incident.version += 1
    incident.updated_at = now
    return await events.record(
        session,
        incident,
        step.event,
        visibility=visibility,
        actor=actor.subject,
        message=message,
        data=data,
        at=now,
    )


async def classify_incident(
    db: Database, actor: Actor, incident_id: uuid.UUID, expected_version: int | None, change: Classification
) -> Incident:
    category = _text(change.category, 100, "input", "category")
    reason = _text(change.override_reason, 500, "input", "overrideReason")
    if change.priority_override is not None and not reason:
        raise invalid("a priority override needs a reason", "input", "overrideReason")
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await _load_for_update(
            session, actor, incident_id, expected_version, OAuthScope.INCIDENTS_WRITE
        )
        step = _step(incident, actor, role, Operation.CLASSIFY)
        if change.service_id is not None:
            await _check_service(session, incident.tenant_id, change.service_id, "input", "serviceId")
        before = _classification(incident)
        if category is not None:
            incident.category = category or None
        incident.impact = change.impact or incident.impact
        incident.urgency = change.urgency or incident.urgency
        if change.service_id is not None:
            incident.service_id = change.service_id
        # An explicit override wins; otherwise the matrix decides and any earlier override is dropped.
        if change.priority_override is not None:
            incident.priority, incident.priority_overridden = change.priority_override, True
        else:
            incident.priority, incident.priority_overridden = (
                priority_for(incident.impact, incident.urgency),
                False,
            )
        after = _classification(incident)
        data: dict[str, Any] = {"before": before, "after": after}
        if before["priority"] != after["priority"]:
            # The priority change is part of the classification: one operation, one event.
            data["priorityChanged"] = True
            step = Step(step.state, IncidentEventKind.PRIORITY_CHANGED, step.responds)
        if reason:
            data["overrideReason"] = reason
        await _commit_step(
            session, incident, step, actor, visibility=Visibility.INTERNAL, message=reason, data=data
        )
    return incident


def _classification(incident: Incident) -> dict[str, Any]:
    return {
        "category": incident.category,
        "impact": incident.impact.value,
        "urgency": incident.urgency.value,
        "priority": incident.priority.value,
        "priorityOverridden": incident.priority_overridden,
        "serviceId": str(incident.service_id) if incident.service_id else None,
    }


async def assign_incident(
    db: Database,
    actor: Actor,
    incident_id: uuid.UUID,
    expected_version: int | None,
    assignee: str | None,
    assignment_group: str | None,
) -> Incident:
    assignee = _text(assignee, MAX_NAME, "input", "assignee")
    group = _text(assignment_group, 200, "input", "assignmentGroup")
    if not assignee and not group:
        raise invalid("name an assignee, an assignment group, or both", "input", "assignee")
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await _load_for_update(
            session, actor, incident_id, expected_version, OAuthScope.INCIDENTS_WRITE
        )
        step = _step(incident, actor, role, Operation.ASSIGN)
        previous = {"assignee": incident.assignee, "assignmentGroup": incident.assignment_group}
        if assignee:
            incident.assignee = assignee
        if group:
            incident.assignment_group = group
        await _commit_step(
            session,
            incident,
            step,
            actor,
            data={
                "before": previous,
                "assignee": incident.assignee,
                "assignmentGroup": incident.assignment_group,
            },
        )
    return incident


async def acknowledge_incident(
    db: Database, actor: Actor, incident_id: uuid.UUID, expected_version: int | None
) -> Incident:
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await _load_for_update(
            session, actor, incident_id, expected_version, OAuthScope.INCIDENTS_WRITE
        )
        await _commit_step(session, incident, _step(incident, actor, role, Operation.ACKNOWLEDGE), actor)
    return incident


async def add_comment(
    db: Database, actor: Actor, incident_id: uuid.UUID, body: str, visibility: Visibility
) -> IncidentEvent:
    text_body = _text(body, MAX_TEXT, "input", "body", required=True)
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await _load_for_update(session, actor, incident_id, None, OAuthScope.INCIDENTS_WRITE)
        step = _step(incident, actor, role, Operation.COMMENT, visibility=visibility)
        resumed = (
            incident.status is IncidentStatus.ON_HOLD and step.state.status is IncidentStatus.IN_PROGRESS
        )
        data = {"resumed": True} if resumed else {}
        event = await _commit_step(
            session, incident, step, actor, visibility=visibility, message=text_body, data=data
        )
    return event
