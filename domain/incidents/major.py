"""Major incidents: the declaration with its Incident Commander, the swarm of responders, and a provider's
outage fanned out to the customer tenants it hits (``affectTenants``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.columns import utcnow
from domain.db import Database, Scope, use_case
from domain.errors import ErrorCode, Refused, forbidden, invalid, not_found
from domain.incidents.enums import (
    IncidentSource,
    IncidentStatus,
    ResponderRole,
    Visibility,
)
from domain.incidents.lifecycle import Operation
from domain.incidents.models import Incident, IncidentLink, Responder
from domain.incidents.relations import CASCADED, HOLDS_THAT_FLOW, lock_family_counters, parent_of
from domain.incidents.steps import (
    MAX_BATCH,
    MAX_NAME,
    MAX_TEXT,
    MAX_TITLE,
    WRITE,
    commit_step,
    load_for_update,
    open_incident,
    required_text,
    step,
    system_step,
)
from domain.tenancy.actor import Actor
from domain.tenancy.models import Membership
from domain.tenancy.roles import Role, at_least

S = IncidentStatus


async def _check_staff_member(session: AsyncSession, tenant_id: uuid.UUID, subject: str, *field: str) -> None:
    """Responders are the tenant's own staff: an AGENT or MANAGER membership, whatever the issuer."""
    found = await session.scalar(
        select(Membership.id)
        .where(
            Membership.tenant_id == tenant_id,
            Membership.subject == subject,
            Membership.role.in_([Role.AGENT, Role.MANAGER]),
        )
        .limit(1)
    )
    if found is None:
        raise invalid("must be an AGENT or MANAGER of the incident's tenant", *field)


@use_case
async def declare_major_incident(
    db: Database, actor: Actor, *, incident_id: uuid.UUID, expected_version: int | None, commander: str
) -> Incident:
    """Declare a major incident (MANAGER) and name its Incident Commander, the swarm's first responder."""
    commander = required_text(commander, MAX_NAME, "commander")
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, role = await load_for_update(session, actor, incident_id, expected_version)
        accepted = step(incident, actor, role, Operation.DECLARE_MAJOR)
        await _check_staff_member(session, incident.tenant_id, commander, "commander")
        existing = await _responder(session, incident, commander)
        if existing is None:
            session.add(
                Responder(
                    tenant_id=incident.tenant_id,
                    incident_id=incident.id,
                    subject=commander,
                    role=ResponderRole.COMMANDER,
                    added_at=utcnow(),
                )
            )
        else:
            existing.role = ResponderRole.COMMANDER
        await commit_step(
            session,
            incident,
            accepted,
            actor,
            visibility=Visibility.INTERNAL,
            message=f"Incident Commander: {commander}",
            data={"commander": commander},
        )
    return incident


async def _responder(session: AsyncSession, incident: Incident, subject: str) -> Responder | None:
    return await session.scalar(
        select(Responder)
        .where(
            Responder.tenant_id == incident.tenant_id,
            Responder.incident_id == incident.id,
            Responder.subject == subject,
        )
        .with_for_update()
    )


@use_case
async def add_responder(
    db: Database, actor: Actor, *, incident_id: uuid.UUID, subject: str, role: ResponderRole
) -> Incident:
    """Add a member of the tenant's staff to the swarm with a role (or change their role)."""
    subject = required_text(subject, MAX_NAME, "subject")
    if role is ResponderRole.COMMANDER:
        raise invalid("the Incident Commander is named by declareMajorIncident", "role")
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, actor_role = await load_for_update(session, actor, incident_id, None)
        accepted = step(incident, actor, actor_role, Operation.ADD_RESPONDER)
        await _check_staff_member(session, incident.tenant_id, subject, "subject")
        existing = await _responder(session, incident, subject)
        previous = existing.role if existing is not None else None
        if previous is ResponderRole.COMMANDER:
            raise invalid("is the Incident Commander", "subject")
        if previous is role:
            raise invalid(f"already responds as {role.value}", "role")
        if existing is None:
            session.add(
                Responder(
                    tenant_id=incident.tenant_id,
                    incident_id=incident.id,
                    subject=subject,
                    role=role,
                    added_at=utcnow(),
                )
            )
        else:
            existing.role = role
        await commit_step(
            session,
            incident,
            accepted,
            actor,
            visibility=Visibility.INTERNAL,
            message=f"{subject} as {role.value}",
            data={
                "subject": subject,
                "role": role.value,
                "previousRole": previous.value if previous else None,
            },
        )
    return incident


def _check_tenant_list(tenant_ids: Sequence[uuid.UUID]) -> None:
    if not tenant_ids:
        raise invalid("name at least one tenant", "tenant_ids")
    if len(tenant_ids) > MAX_BATCH:
        raise Refused.one(ErrorCode.LIMIT_EXCEEDED, f"at most {MAX_BATCH} tenants per call", "tenant_ids")
    for index, tenant_id in enumerate(tenant_ids):
        if tenant_id in tenant_ids[:index]:
            raise invalid("named twice", "tenant_ids", str(index))


def _check_tenant_rights(actor: Actor, tenant_ids: Sequence[uuid.UUID]) -> None:
    for index, tenant_id in enumerate(tenant_ids):
        field = ("tenant_ids", str(index))
        role = actor.role_in(tenant_id)
        if role is None:
            raise not_found("tenant", *field)
        if not at_least(role, Role.AGENT):
            raise forbidden("creating incidents in an affected tenant needs the AGENT role there", *field)
        if not actor.can(WRITE, tenant_id):
            raise forbidden(f"creating incidents in an affected tenant needs the {WRITE} scope", *field)


@use_case
async def affect_tenants(
    db: Database,
    actor: Actor,
    *,
    incident_id: uuid.UUID,
    tenant_ids: Sequence[uuid.UUID],
    public_title: str,
    public_description: str,
) -> list[Incident]:
    """One child incident per affected tenant, in that tenant, with the public title and description and
    linked to the provider's incident; from then on the parent's public changes flow to them. The actor
    must be staff (AGENT+) in the parent's tenant and in every named tenant. Returns the children."""
    title = required_text(public_title, MAX_TITLE, "public_title")
    description = required_text(public_description, MAX_TEXT, "public_description")
    _check_tenant_list(tenant_ids)
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        parent, role = await load_for_update(session, actor, incident_id, None)
        accepted = step(parent, actor, role, Operation.AFFECT_TENANTS)
        _check_tenant_rights(actor, tenant_ids)
        if await parent_of(session, parent) is not None:
            raise invalid(
                "is itself a child of another incident, and a child cannot have children", "incident_id"
            )
        for index, tenant_id in enumerate(tenant_ids):
            if tenant_id == parent.tenant_id:
                raise invalid("is the incident's own tenant", "tenant_ids", str(index))
            if tenant_id in parent.affected_tenant_ids:
                raise invalid("is already affected by this incident", "tenant_ids", str(index))
        await lock_family_counters(session, parent.tenant_id, tenant_ids)
        children = [await _child_in(session, actor, parent, t, title, description) for t in tenant_ids]
        parent.affected_tenant_ids = [*parent.affected_tenant_ids, *tenant_ids]
        await commit_step(
            session,
            parent,
            accepted,
            actor,
            visibility=Visibility.INTERNAL,
            message=", ".join(c.display_number for c in children),
            data={
                "affectedTenantIds": [str(t) for t in tenant_ids],
                "childIds": [str(c.id) for c in children],
            },
        )
    return children


async def _child_in(
    session: AsyncSession, actor: Actor, parent: Incident, tenant_id: uuid.UUID, title: str, description: str
) -> Incident:
    child = await open_incident(
        session,
        tenant_id=tenant_id,
        title=title,
        description=description,
        source=IncidentSource.SERVICE_DESK,
        impact=parent.impact,
        urgency=parent.urgency,
        reported_by=(actor.subject, actor.issuer),
        priority=parent.priority,
        priority_overridden=parent.priority_overridden,
        created={"providerIncident": True},
    )
    session.add(
        IncidentLink(
            tenant_id=tenant_id,
            child_id=child.id,
            parent_tenant_id=parent.tenant_id,
            parent_id=parent.id,
            linked_by=actor.subject,
            linked_at=child.reported_at,
        )
    )
    # The customer's incident starts where the provider's stands.
    if parent.status in (S.IN_PROGRESS, S.ON_HOLD):
        acknowledged = system_step(child, Operation.ACKNOWLEDGE)
        if acknowledged is not None:
            await commit_step(session, child, acknowledged, None, data=dict(CASCADED))
    reason = parent.on_hold_reason
    if parent.status is S.ON_HOLD and reason in HOLDS_THAT_FLOW:
        held = system_step(child, Operation.PUT_ON_HOLD, hold_reason=reason)
        if held is not None and reason is not None:
            await commit_step(session, child, held, None, data={**CASCADED, "reason": reason.value})
    return child
