"""Watching an incident: a member who did not report it follows its PUBLIC updates by mail.

Any member who may read an incident may watch it: staff any incident of their tenants, a CUSTOMER
those of their own tenant (which are the incidents they may see). What a watcher is then mailed is
what their sight admits (``domain/notices/incident_mail.py``): a CUSTOMER never more than a CUSTOMER
reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.columns import utcnow
from domain.db import Database, Scope, use_case
from domain.errors import forbidden, not_found
from domain.incidents.models import Incident
from domain.notices.member_models import IncidentWatcher
from domain.notices.preferences import own_membership
from domain.tenancy.actor import Actor
from domain.tenancy.models import Membership
from domain.tenancy.roles import Scope as OAuthScope

IncidentKey = tuple[uuid.UUID, uuid.UUID]  # (tenant_id, incident_id)


async def _incident_and_member(
    session: AsyncSession, actor: Actor, incident_id: uuid.UUID
) -> tuple[Incident, Membership]:
    """The incident and the actor's membership of its tenant. Another tenant's incident is NOT_FOUND,
    like an absent one; a token without incidents:read may not follow incidents."""
    incident = await session.scalar(select(Incident).where(Incident.id == incident_id))
    if incident is None or actor.role_in(incident.tenant_id) is None:
        raise not_found("incident", "incident_id")
    if not actor.can(OAuthScope.INCIDENTS_READ, incident.tenant_id):
        raise forbidden(f"watching an incident needs the {OAuthScope.INCIDENTS_READ} scope")
    membership = await own_membership(session, actor, incident.tenant_id)
    if membership is None:  # pragma: no cover - a role in a tenant comes from a membership
        raise not_found("incident", "incident_id")
    return incident, membership


@use_case
async def watch_incident(db: Database, actor: Actor, *, incident_id: uuid.UUID) -> Incident:
    """Follow an incident's PUBLIC updates by mail; watching it again changes nothing."""
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, membership = await _incident_and_member(session, actor, incident_id)
        await session.execute(
            insert(IncidentWatcher)
            .values(
                tenant_id=incident.tenant_id,
                incident_id=incident.id,
                membership_id=membership.id,
                watched_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "incident_id", "membership_id"])
        )
    return incident


@use_case
async def unwatch_incident(db: Database, actor: Actor, *, incident_id: uuid.UUID) -> Incident:
    """Stop following an incident; one not watched stays so."""
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        incident, membership = await _incident_and_member(session, actor, incident_id)
        await session.execute(
            delete(IncidentWatcher).where(
                IncidentWatcher.tenant_id == incident.tenant_id,
                IncidentWatcher.incident_id == incident.id,
                IncidentWatcher.membership_id == membership.id,
            )
        )
    return incident


async def watched(
    session: AsyncSession, *, issuer: str, subject: str, incidents: Sequence[IncidentKey]
) -> set[IncidentKey]:
    """Which of ``incidents`` (issuer, subject) watches, through its membership of each one's tenant."""
    if not incidents:
        return set()
    rows = await session.execute(
        select(IncidentWatcher.tenant_id, IncidentWatcher.incident_id)
        .join(
            Membership,
            (Membership.tenant_id == IncidentWatcher.tenant_id)
            & (Membership.id == IncidentWatcher.membership_id),
        )
        .where(
            tuple_(IncidentWatcher.tenant_id, IncidentWatcher.incident_id).in_(list(incidents)),
            Membership.issuer == issuer,
            Membership.subject == subject,
        )
    )
    return {(tenant_id, incident_id) for tenant_id, incident_id in rows}
