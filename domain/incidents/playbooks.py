"""Incident models: a repeatable way to handle a known type of incident.

A model's match rules (category, service, keywords) pick the incidents it fits; its defaults
(classification, assignment group, workaround, a task checklist) are applied on report when it is the
first model that matches, or by hand with ``apply_incident_model``. Either way: one MODEL_APPLIED event.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.columns import utcnow
from domain.db import Database, Scope, use_case
from domain.errors import ErrorCode, Refused, forbidden, invalid, not_found
from domain.incidents.enums import Impact, Urgency, Visibility
from domain.incidents.lifecycle import Operation, priority_for
from domain.incidents.models import Incident, IncidentModel, IncidentTask
from domain.incidents.steps import (
    MAX_TEXT,
    check_service,
    clean_text,
    commit_step,
    load_for_update,
    required_text,
    step,
    system_step,
)
from domain.tenancy.actor import Actor
from domain.tenancy.roles import Role, at_least
from domain.tenancy.roles import Scope as OAuthScope

MAX_KEYWORDS = 50
MAX_TASKS = 50


@dataclass(frozen=True)
class ModelSpec:
    tenant_id: uuid.UUID
    name: str
    description: str | None = None
    match_category: str | None = None
    match_service_id: uuid.UUID | None = None
    match_keywords: Sequence[str] = field(default_factory=tuple)
    category: str | None = None
    impact: Impact | None = None
    urgency: Urgency | None = None
    assignment_group: str | None = None
    workaround: str | None = None
    tasks: Sequence[str] = field(default_factory=tuple)


def _items(values: Sequence[str], limit: int, most: int, *path: str) -> list[str]:
    if len(values) > most:
        raise Refused.one(ErrorCode.LIMIT_EXCEEDED, f"at most {most} entries", *path)
    cleaned: list[str] = []
    for index, value in enumerate(values):
        cleaned.append(required_text(value, limit, *path, str(index)))
    return cleaned


@use_case
async def create_incident_model(db: Database, actor: Actor, spec: ModelSpec) -> IncidentModel:
    role = actor.role_in(spec.tenant_id)
    if role is None:
        raise not_found("tenant", "tenant")
    if not at_least(role, Role.MANAGER):
        raise forbidden("creating an incident model needs the MANAGER role")
    if not actor.can(OAuthScope.MANAGE, spec.tenant_id):
        raise forbidden(f"creating an incident model needs the {OAuthScope.MANAGE} scope")
    name = required_text(spec.name, 200, "name")
    keywords = _items(spec.match_keywords, 100, MAX_KEYWORDS, "match_keywords")
    lowered = [k.lower() for k in keywords]
    for index, keyword in enumerate(lowered):
        if keyword in lowered[:index]:
            raise invalid("named twice", "match_keywords", str(index))
    model = IncidentModel(
        tenant_id=spec.tenant_id,
        id=uuid.uuid4(),
        name=name,
        description=clean_text(spec.description, 5000, "description") or None,
        match_category=clean_text(spec.match_category, 100, "match_category") or None,
        match_service_id=spec.match_service_id,
        match_keywords=keywords,
        category=clean_text(spec.category, 100, "category") or None,
        impact=spec.impact,
        urgency=spec.urgency,
        assignment_group=clean_text(spec.assignment_group, 200, "assignment_group") or None,
        workaround=clean_text(spec.workaround, MAX_TEXT, "workaround") or None,
        tasks=_items(spec.tasks, 300, MAX_TASKS, "tasks"),
        created_by=actor.subject,
        created_at=utcnow(),
    )
    taken = invalid("the tenant already has an incident model with this name", "name")
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        if spec.match_service_id is not None:
            await check_service(session, spec.tenant_id, spec.match_service_id, "match_service_id")
        exists = await session.scalar(
            select(func.count())
            .select_from(IncidentModel)
            .where(IncidentModel.tenant_id == spec.tenant_id, IncidentModel.name == name)
        )
        if exists:
            raise taken
        session.add(model)
        try:
            await session.flush()
        except IntegrityError:  # a concurrent creation took the name first
            raise taken from None
    return model


async def incident_models(
    db: Database, actor: Actor, tenant_ids: Collection[uuid.UUID]
) -> list[IncidentModel]:
    """The models of those of ``tenant_ids`` where the actor is staff (models are internal playbooks)."""
    staff = [
        t
        for t in tenant_ids
        if (role := actor.role_in(t)) is not None
        and at_least(role, Role.AGENT)
        and actor.can(OAuthScope.INCIDENTS_READ, t)
    ]
    if not staff:
        return []
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        rows = await session.scalars(
            select(IncidentModel)
            .where(IncidentModel.tenant_id.in_(staff))
            .order_by(IncidentModel.tenant_id, IncidentModel.created_at, IncidentModel.id)
        )
        return list(rows.all())


def _mentions(keyword: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(keyword)}(?!\w)", text, re.IGNORECASE) is not None


def matches(model: IncidentModel, incident: Incident) -> bool:
    """Every rule the model sets holds; a model without rules never matches by itself."""
    rules = 0
    if model.match_category:
        rules += 1
        if (incident.category or "").casefold() != model.match_category.casefold():
            return False
    if model.match_service_id is not None:
        rules += 1
        if incident.service_id != model.match_service_id:
            return False
    if model.match_keywords:
        rules += 1
        text = f"{incident.title}\n{incident.description}"
        if not any(_mentions(k, text) for k in model.match_keywords):
            return False
    return rules > 0


async def matching_model(session: AsyncSession, incident: Incident) -> IncidentModel | None:
    """The tenant's oldest model that matches the incident, if any."""
    rows = await session.scalars(
        select(IncidentModel)
        .where(IncidentModel.tenant_id == incident.tenant_id)
        .order_by(IncidentModel.created_at, IncidentModel.id)
    )
    return next((m for m in rows.all() if matches(m, incident)), None)


async def apply_model(
    session: AsyncSession,
    incident: Incident,
    model: IncidentModel,
    actor: Actor | None,
    *,
    role: Role | None = None,
    keep: Collection[str] = (),
) -> None:
    """Apply ``model`` to the locked incident: one MODEL_APPLIED event. ``actor`` None is the service
    applying it on report, where what the reporter gave (``keep``) wins over the model's defaults."""
    if actor is None or role is None:
        accepted = system_step(incident, Operation.APPLY_MODEL)
        if accepted is None:  # pragma: no cover - a new incident is NEW
            return
    else:
        accepted = step(incident, actor, role, Operation.APPLY_MODEL)
    before = _snapshot(incident)
    if model.category and "category" not in keep:
        incident.category = model.category
    if model.impact is not None and "impact" not in keep:
        incident.impact = model.impact
    if model.urgency is not None and "urgency" not in keep:
        incident.urgency = model.urgency
    if not incident.priority_overridden:
        incident.priority = priority_for(incident.impact, incident.urgency)
    if model.assignment_group:
        incident.assignment_group = model.assignment_group
    if model.workaround and not incident.workaround:
        incident.workaround = model.workaround
    position = await session.scalar(
        select(func.coalesce(func.max(IncidentTask.position), 0)).where(
            IncidentTask.tenant_id == incident.tenant_id, IncidentTask.incident_id == incident.id
        )
    )
    for offset, title in enumerate(model.tasks, start=1):
        session.add(
            IncidentTask(
                tenant_id=incident.tenant_id,
                id=uuid.uuid4(),
                incident_id=incident.id,
                position=int(position or 0) + offset,
                title=title,
                done=False,
            )
        )
    incident.model_id = model.id
    data: dict[str, Any] = {
        "modelId": str(model.id),
        "model": model.name,
        "before": before,
        "after": _snapshot(incident),
        "tasks": len(model.tasks),
    }
    await commit_step(
        session, incident, accepted, actor, visibility=Visibility.INTERNAL, message=model.name, data=data
    )


def _snapshot(incident: Incident) -> dict[str, Any]:
    return {
        "category": incident.category,
        "impact": incident.impact.value,
        "urgency": incident.urgency.value,
        "priority": incident.priority.value,
        "assignmentGroup": incident.assignment_group,
        "workaround": incident.workaround,
    }


@use_case
async def apply_incident_model(
    db: Database, actor: Actor, *, incident_id: uuid.UUID, model_id: uuid.UUID
) -> Incident:
    """Apply a model by hand (AGENT): its classification, group and tasks; its workaround when none is set."""
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, None)
        step(incident, actor, role, Operation.APPLY_MODEL)  # refuse early, before looking at the model
        model = await session.scalar(
            select(IncidentModel).where(
                IncidentModel.tenant_id == incident.tenant_id, IncidentModel.id == model_id
            )
        )
        if model is None:
            raise not_found("incident model", "model_id")
        if incident.model_id == model.id:
            raise invalid("this model has already been applied to the incident", "model_id")
        await apply_model(session, incident, model, actor, role=role)
    return incident
