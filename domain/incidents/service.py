"""Incident use cases of logging and first handling: report, classify, assign, acknowledge, comment.

Each is one function running in one transaction; a refusal writes nothing. The rest of the practice sits
beside this module, one concept each: ``handling`` (hold, resolve, close...), ``relations`` (parents and
children), ``major`` (major incidents), ``playbooks`` (incident models), ``reviews``, ``auto_close``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.columns import utcnow
from domain.db import Database, Scope, use_case
from domain.errors import invalid
from domain.incidents import playbooks, relations
from domain.incidents.enums import (
    Impact,
    IncidentEventKind,
    IncidentSource,
    IncidentStatus,
    Priority,
    Urgency,
    Visibility,
)
from domain.incidents.lifecycle import Operation, Step, priority_for
from domain.incidents.models import Incident, IncidentEvent
from domain.incidents.steps import (
    MAX_NAME,
    MAX_TEXT,
    MAX_TITLE,
    WRITE,
    check_service,
    clean_text,
    commit_step,
    load_for_update,
    member_role,
    open_incident,
    required_text,
    step,
)
from domain.tenancy.actor import Actor
from domain.tenancy.roles import Role, at_least

# Clocks of monitoring tools drift; a detection time a little in the future is still believable.
CLOCK_SKEW = timedelta(minutes=5)

__all__ = [
    "CLOCK_SKEW",
    "MAX_NAME",
    "MAX_TEXT",
    "MAX_TITLE",
    "Classification",
    "NewIncident",
    "acknowledge",
    "acknowledge_incident",
    "add_comment",
    "assign_incident",
    "classify_incident",
    "report_incident",
    "source_for",
]


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


def source_for(actor: Actor, role: Role) -> IncidentSource:
    if actor.client_id is not None:
        return IncidentSource.PARTNER_API
    return IncidentSource.SERVICE_DESK if at_least(role, Role.AGENT) else IncidentSource.USER_REPORT


@use_case
async def report_incident(db: Database, actor: Actor, new: NewIncident) -> Incident:
    """Log an incident. When one of the tenant's incident models matches it, the model is applied at
    once (a second step, recorded as MODEL_APPLIED)."""
    role = member_role(actor, new.tenant_id, WRITE, "reporting an incident")
    title = required_text(new.title, MAX_TITLE, "title")
    description = clean_text(new.description, MAX_TEXT, "description") or ""
    category = clean_text(new.category, 100, "category") or None
    now = utcnow()
    if new.detected_at is not None and new.detected_at > now + CLOCK_SKEW:
        raise invalid("must not be in the future", "detected_at")
    impact = new.impact or Impact.MEDIUM
    urgency = new.urgency or Urgency.MEDIUM
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        if new.service_id is not None:
            await check_service(session, new.tenant_id, new.service_id, "service_id")
        incident = await open_incident(
            session,
            tenant_id=new.tenant_id,
            title=title,
            description=description,
            source=source_for(actor, role),
            impact=impact,
            urgency=urgency,
            reported_by=(actor.subject, actor.issuer),
            category=category,
            service_id=new.service_id,
            detected_at=new.detected_at,
        )
        model = await playbooks.matching_model(session, incident)
        if model is not None:
            given = {name for name, value in (("impact", new.impact), ("urgency", new.urgency)) if value}
            if category:
                given.add("category")
            await playbooks.apply_model(session, incident, model, None, keep=given)
    return incident


@use_case
async def classify_incident(
    db: Database,
    actor: Actor,
    *,
    incident_id: uuid.UUID,
    expected_version: int | None,
    change: Classification,
) -> Incident:
    category = clean_text(change.category, 100, "category")
    reason = clean_text(change.override_reason, 500, "override_reason")
    if change.priority_override is not None and not reason:
        raise invalid("a priority override needs a reason", "override_reason")
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, expected_version)
        accepted = step(incident, actor, role, Operation.CLASSIFY)
        if change.service_id is not None:
            await check_service(session, incident.tenant_id, change.service_id, "service_id")
        before = classification_of(incident)
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
        after = classification_of(incident)
        data: dict[str, Any] = {"before": before, "after": after}
        if before["priority"] != after["priority"]:
            # The priority change is part of the classification: one operation, one event.
            data["priorityChanged"] = True
            accepted = Step(accepted.state, IncidentEventKind.PRIORITY_CHANGED, accepted.responds)
        if reason:
            data["overrideReason"] = reason
        await commit_step(
            session, incident, accepted, actor, visibility=Visibility.INTERNAL, message=reason, data=data
        )
    return incident


def classification_of(incident: Incident) -> dict[str, Any]:
    return {
        "category": incident.category,
        "impact": incident.impact.value,
        "urgency": incident.urgency.value,
        "priority": incident.priority.value,
        "priorityOverridden": incident.priority_overridden,
        "serviceId": str(incident.service_id) if incident.service_id else None,
    }


@use_case
async def assign_incident(
    db: Database,
    actor: Actor,
    *,
    incident_id: uuid.UUID,
    expected_version: int | None,
    assignee: str | None,
    assignment_group: str | None,
) -> Incident:
    assignee = clean_text(assignee, MAX_NAME, "assignee")
    group = clean_text(assignment_group, 200, "assignment_group")
    if not assignee and not group:
        raise invalid("name an assignee, an assignment group, or both", "assignee")
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, expected_version)
        accepted = step(incident, actor, role, Operation.ASSIGN)
        before = incident.status
        previous = {"assignee": incident.assignee, "assignmentGroup": incident.assignment_group}
        if assignee:
            incident.assignee = assignee
        if group:
            incident.assignment_group = group
        await commit_step(
            session,
            incident,
            accepted,
            actor,
            data={
                "before": previous,
                "assignee": incident.assignee,
                "assignmentGroup": incident.assignment_group,
            },
        )
        await relations.flow_from_parent(session, incident, before)
    return incident


@use_case
async def acknowledge_incident(
    db: Database, actor: Actor, *, incident_id: uuid.UUID, expected_version: int | None
) -> Incident:
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, expected_version)
        await acknowledge(session, actor=actor, incident=incident, role=role)
    return incident


async def acknowledge(session: AsyncSession, *, actor: Actor, incident: Incident, role: Role) -> None:
    """Acknowledge an incident loaded for update, inside the caller's transaction (the alert intake
    applies many alerts in one). Raises ``Refused`` before writing anything when the step is not allowed."""
    before = incident.status
    await commit_step(session, incident, step(incident, actor, role, Operation.ACKNOWLEDGE), actor)
    await relations.flow_from_parent(session, incident, before)


@use_case
async def add_comment(
    db: Database, actor: Actor, *, incident_id: uuid.UUID, body: str, visibility: Visibility
) -> IncidentEvent:
    """A comment; a CUSTOMER's answer to an incident AWAITING_CUSTOMER resumes it. A staff PUBLIC comment
    is copied to the incident's children."""
    text_body = clean_text(body, MAX_TEXT, "body", required=True)
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, None)
        accepted = step(incident, actor, role, Operation.COMMENT, visibility=visibility)
        before = incident.status
        resumed = before is IncidentStatus.ON_HOLD and accepted.state.status is IncidentStatus.IN_PROGRESS
        data = {"resumed": True} if resumed else {}
        event = await commit_step(
            session, incident, accepted, actor, visibility=visibility, message=text_body, data=data
        )
        staff_public = at_least(role, Role.AGENT) and visibility is Visibility.PUBLIC
        await relations.flow_from_parent(
            session, incident, before, comment=text_body if staff_public else None
        )
    return event
