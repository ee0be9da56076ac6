"""Working an incident to its end: hold and resume, workaround, escalation, resolution, reopening,
closure, cancellation, the customer's rating and the task checklist. (The work log is billing's:
``domain/billing/worklog.py``.)

Each use case is one transaction: load and lock the incident, ask the status machine, change the row,
write the one timeline event, and let a parent's change flow to its children.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain import visibility
from domain.columns import utcnow
from domain.db import Database, Scope, use_case
from domain.errors import invalid, not_found
from domain.incidents import relations
from domain.incidents.enums import HoldReason, ResolutionCode, Visibility
from domain.incidents.lifecycle import Operation
from domain.incidents.models import Incident, IncidentTask
from domain.incidents.steps import (
    MAX_TEXT,
    clean_text,
    commit_step,
    load_for_update,
    required_text,
    review_published,
    step,
)
from domain.tenancy.actor import Actor
from domain.tenancy.roles import Role


@use_case
async def put_incident_on_hold(
    db: Database,
    actor: Actor,
    *,
    incident_id: uuid.UUID,
    expected_version: int | None,
    reason: HoldReason,
    note: str | None,
) -> Incident:
    note = clean_text(note, MAX_TEXT, "note") or None
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, expected_version)
        accepted = step(incident, actor, role, Operation.PUT_ON_HOLD, hold_reason=reason)
        before = incident.status
        await commit_step(session, incident, accepted, actor, message=note, data={"reason": reason.value})
        await relations.flow_from_parent(session, incident, before)
    return incident


@use_case
async def resume_incident(
    db: Database, actor: Actor, *, incident_id: uuid.UUID, expected_version: int | None
) -> Incident:
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, expected_version)
        accepted = step(incident, actor, role, Operation.RESUME)
        before, reason = incident.status, incident.on_hold_reason
        data = {"reason": reason.value} if reason else {}
        await commit_step(session, incident, accepted, actor, data=data)
        await relations.flow_from_parent(session, incident, before)
    return incident


@use_case
async def apply_workaround(
    db: Database, actor: Actor, *, incident_id: uuid.UUID, expected_version: int | None, workaround: str
) -> Incident:
    text = required_text(workaround, MAX_TEXT, "workaround")
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, expected_version)
        accepted = step(incident, actor, role, Operation.APPLY_WORKAROUND)
        incident.workaround = text
        await commit_step(session, incident, accepted, actor, message=text)
    return incident


@dataclass(frozen=True)
class Escalation:
    note: str
    assignment_group: str | None = None
    vendor: str | None = None
    vendor_ticket: str | None = None
    hierarchical: bool = False


@use_case
async def escalate_incident(
    db: Database,
    actor: Actor,
    *,
    incident_id: uuid.UUID,
    expected_version: int | None,
    escalation: Escalation,
) -> Incident:
    """Functional escalation (a more skilled group, or a vendor with its ticket reference) and/or
    hierarchical escalation (flagged for the managers)."""
    note = required_text(escalation.note, MAX_TEXT, "note")
    group = clean_text(escalation.assignment_group, 200, "assignment_group") or None
    vendor = clean_text(escalation.vendor, 200, "vendor") or None
    ticket = clean_text(escalation.vendor_ticket, 200, "vendor_ticket") or None
    if not (group or vendor or ticket or escalation.hierarchical):
        raise invalid(
            "escalate to an assignment group, a vendor, or the managers (hierarchical)",
            "assignment_group",
        )
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, expected_version)
        accepted = step(incident, actor, role, Operation.ESCALATE)
        if ticket and not (vendor or incident.vendor):
            raise invalid("a vendor ticket needs a vendor", "vendor")
        before = {
            "assignee": incident.assignee,
            "assignmentGroup": incident.assignment_group,
            "vendor": incident.vendor,
            "vendorTicket": incident.vendor_ticket,
        }
        if group and group != incident.assignment_group:
            # A new group picks its own assignee.
            incident.assignment_group, incident.assignee = group, None
        if vendor and vendor != incident.vendor:
            incident.vendor, incident.vendor_ticket = vendor, None
        if ticket:
            incident.vendor_ticket = ticket
        if escalation.hierarchical:
            incident.escalated_to_managers = True
        incident.escalated_at = utcnow()
        data = {
            "functional": bool(group or vendor or ticket),
            "hierarchical": escalation.hierarchical,
            "before": before,
            "assignmentGroup": incident.assignment_group,
            "vendor": incident.vendor,
            "vendorTicket": incident.vendor_ticket,
        }
        await commit_step(
            session, incident, accepted, actor, visibility=Visibility.INTERNAL, message=note, data=data
        )
    return incident


@use_case
async def resolve_incident(
    db: Database,
    actor: Actor,
    *,
    incident_id: uuid.UUID,
    expected_version: int | None,
    code: ResolutionCode,
    notes: str,
    cascade_to_children: bool | None = True,
) -> Incident:
    """Resolve; open children are resolved with the same code and notes unless told otherwise (only
    ``False`` says otherwise: an unspecified choice cascades)."""
    notes = required_text(notes, MAX_TEXT, "notes")
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, expected_version)
        await resolve(
            session,
            actor=actor,
            incident=incident,
            role=role,
            code=code,
            notes=notes,
            cascade_to_children=cascade_to_children is not False,
        )
    return incident


async def resolve(
    session: AsyncSession,
    *,
    actor: Actor,
    incident: Incident,
    role: Role,
    code: ResolutionCode,
    notes: str,
    cascade_to_children: bool = True,
) -> None:
    """Resolve an incident loaded for update, inside the caller's transaction (the alert intake applies
    many alerts in one). ``notes`` are checked by the caller. Raises ``Refused`` before writing anything
    when the step is not allowed."""
    accepted = step(incident, actor, role, Operation.RESOLVE)
    before = incident.status
    incident.resolution_code = code
    incident.resolution_notes = notes
    incident.resolved_by = actor.subject
    await commit_step(
        session,
        incident,
        accepted,
        actor,
        message=notes,
        data={"code": code.value, "cascadeToChildren": cascade_to_children},
    )
    await relations.flow_from_parent(session, incident, before, cascade_resolution=cascade_to_children)


@use_case
async def reopen_incident(db: Database, actor: Actor, *, incident_id: uuid.UUID, reason: str) -> Incident:
    """The resolution is rejected (by its reporter or staff): back to IN_PROGRESS."""
    reason = required_text(reason, MAX_TEXT, "reason")
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, None)
        accepted = step(incident, actor, role, Operation.REOPEN)
        before = incident.status
        previous = {
            "code": incident.resolution_code.value if incident.resolution_code else None,
            "notes": incident.resolution_notes,
        }
        await commit_step(session, incident, accepted, actor, message=reason, data={"resolution": previous})
        await relations.flow_from_parent(session, incident, before)
    return incident


@use_case
async def close_incident(
    db: Database, actor: Actor, *, incident_id: uuid.UUID, expected_version: int | None
) -> Incident:
    """Confirm the resolution (its reporter or staff). Children the parent resolved close with it. A major
    incident closes only once its review is published."""
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, expected_version)
        published = incident.major and await review_published(session, incident)
        accepted = step(incident, actor, role, Operation.CLOSE, review_published=published)
        before = incident.status
        await commit_step(session, incident, accepted, actor)
        await relations.flow_from_parent(session, incident, before)
    return incident


@use_case
async def cancel_incident(
    db: Database, actor: Actor, *, incident_id: uuid.UUID, expected_version: int | None, reason: str
) -> Incident:
    """Withdraw an incident that is no incident after all (its reporter or staff); terminal."""
    reason = required_text(reason, MAX_TEXT, "reason")
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, expected_version)
        accepted = step(incident, actor, role, Operation.CANCEL)
        incident.cancel_reason = reason
        await commit_step(session, incident, accepted, actor, message=reason)
    return incident


@use_case
async def rate_incident(
    db: Database, actor: Actor, *, incident_id: uuid.UUID, score: int, comment: str | None
) -> Incident:
    """The reporter's satisfaction, once, after resolution: 1 (poor) to 5 (excellent)."""
    if not 1 <= score <= 5:
        raise invalid("must be between 1 and 5", "score")
    comment = clean_text(comment, MAX_TEXT, "comment") or None
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, None)
        accepted = step(incident, actor, role, Operation.RATE)
        now = utcnow()
        incident.satisfaction_score = score
        incident.satisfaction_comment = comment
        incident.rated_at = now
        await commit_step(session, incident, accepted, actor, message=comment, data={"score": score})
    return incident


@use_case
async def set_task(db: Database, actor: Actor, *, task_id: uuid.UUID, done: bool) -> Incident:
    """Tick (or untick) an item of the incident's checklist (AGENT)."""
    field = ("task_id",)
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        task = await session.scalar(select(IncidentTask).where(IncidentTask.id == task_id))
        # A checklist is internal work: to a customer its tasks answer like ones that do not exist.
        if task is None or not visibility.sees(actor, task.tenant_id, visibility.Part.TASKS):
            raise not_found("task", *field)
        incident, role = await load_for_update(session, actor, task.incident_id, None, field=field)
        accepted = step(incident, actor, role, Operation.SET_TASK)
        task = await session.scalar(
            select(IncidentTask)
            .where(IncidentTask.tenant_id == incident.tenant_id, IncidentTask.id == task_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if task is None:  # pragma: no cover - tasks go with their incident, which is locked
            raise not_found("task", *field)
        was = task.done
        task.done = done
        await commit_step(
            session,
            incident,
            accepted,
            actor,
            visibility=Visibility.INTERNAL,
            message=task.title,
            data={"taskId": str(task.id), "done": done, "was": was},
        )
    return incident


__all__ = [
    "Escalation",
    "apply_workaround",
    "cancel_incident",
    "close_incident",
    "escalate_incident",
    "put_incident_on_hold",
    "rate_incident",
    "reopen_incident",
    "resolve",
    "resolve_incident",
    "resume_incident",
    "set_task",
]
