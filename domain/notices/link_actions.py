"""Following the links of incident mails: the recipient answers as the member the mail was sent to.

A link is signed for one member of one tenant (``domain/notices/links.py``). Following it, the member
acts through the same use cases as over the API, with the same rules (confirm or reopen a RESOLVED
incident, its reporter; rate it once, its reporter): the member's role is read from their membership
when the link is followed, so a member removed since, or whose role changed, gets what they may do
now. What the link may do is also limited to incidents: the member's token scopes do not come along,
the role's rights do.

Each answer first reads who the link speaks for (a short read), then runs the one use case as them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from domain.db import Database, Scope
from domain.errors import Problem, not_found
from domain.incidents import handling, steps
from domain.incidents.enums import IncidentStatus
from domain.incidents.lifecycle import Operation, Request, decide
from domain.incidents.models import Incident
from domain.mail.links import LinkRefused, MailLinks
from domain.notices import preferences
from domain.notices.links import LinkAction, MemberLink
from domain.notices.preferences import NoticeKind
from domain.tenancy.actor import OneTenantActor
from domain.tenancy.models import Membership, Tenant
from domain.tenancy.roles import ROLE_SCOPES, Role


@dataclass(frozen=True)
class MemberActor(OneTenantActor):
    """The member a mail was sent to, acting in that one tenant with their role's rights. Satisfies
    ``domain.tenancy.actor.Actor``."""

    tenant_id: uuid.UUID
    issuer: str
    subject: str
    role: Role

    @property
    def acting_role(self) -> Role:
        return self.role

    @property
    def acting_scopes(self) -> frozenset[str]:
        return ROLE_SCOPES[self.role]


@dataclass(frozen=True)
class LinkedIncident:
    """What a link's page shows before the member answers: the incident, as any of its members reads
    it (number, title, status), its tenant's name, and why the answer would be refused now, if it would
    (the status machine's own words: the page then offers nothing to press)."""

    number: str
    title: str
    status: IncidentStatus
    tenant_name: str
    refusal: str | None


@dataclass(frozen=True)
class LinkOpener:
    """Opens the links of this deployment: their signatures, and how long an incident link works."""

    links: MailLinks
    max_age: timedelta

    def open(self, action: LinkAction, token: str) -> MemberLink:
        """Whom and what the link speaks of; LinkRefused when it was altered, is of another kind, or has
        expired. An unsubscribe link never expires: it must work whenever an old mail is answered."""
        max_age = None if action is LinkAction.UNSUBSCRIBE else self.max_age
        member = MemberLink.of(self.links.open(token, action.action, max_age))
        if (action is LinkAction.UNSUBSCRIBE) != (member.incident_id is None):
            raise LinkRefused("this link is not valid")
        return member


async def _member(db: Database, member: MemberLink) -> tuple[MemberActor, Incident | None, str]:
    """The member the link speaks for, as they are now, with the incident it names and the tenant's
    name; NOT_FOUND when the membership is gone."""
    async with db.transaction(Scope.of([member.tenant_id])) as session:
        found = (
            await session.execute(
                select(Membership, Tenant.name)
                .join(Tenant, Tenant.id == Membership.tenant_id)
                .where(Membership.tenant_id == member.tenant_id, Membership.id == member.membership_id)
            )
        ).first()
        if found is None:
            raise not_found("member")
        membership, tenant_name = found
        incident = None
        if member.incident_id is not None:
            incident = await session.scalar(
                select(Incident).where(
                    Incident.tenant_id == member.tenant_id, Incident.id == member.incident_id
                )
            )
            if incident is None:
                raise not_found("incident")
    actor = MemberActor(member.tenant_id, membership.issuer, membership.subject, membership.role)
    return actor, incident, tenant_name


OPERATIONS = {
    LinkAction.CONFIRM: Operation.CLOSE,
    LinkAction.REOPEN: Operation.REOPEN,
    LinkAction.RATE: Operation.RATE,
}


async def linked_incident(
    db: Database, opener: LinkOpener, *, action: LinkAction, token: str
) -> LinkedIncident:
    """The incident a link names, for the page that asks the member to answer."""
    actor, incident, tenant_name = await _member(db, opener.open(action, token))
    assert incident is not None
    request = Request(
        operation=OPERATIONS[action], role=actor.role, is_reporter=steps.is_reporter(incident, actor)
    )
    # A major incident's review is not read here: its closure is refused or not when the member answers.
    outcome = decide(steps.state_of(incident, review_published=True), request)
    return LinkedIncident(
        number=incident.display_number,
        title=incident.title,
        status=incident.status,
        tenant_name=tenant_name,
        refusal=outcome.message if isinstance(outcome, Problem) else None,
    )


async def confirm_resolution(db: Database, opener: LinkOpener, *, token: str) -> Incident:
    """The member confirms the resolution: ``closeIncident`` as them."""
    actor, incident, _ = await _member(db, opener.open(LinkAction.CONFIRM, token))
    assert incident is not None
    return await handling.close_incident(db, actor, incident_id=incident.id, expected_version=None)


async def reopen_resolution(db: Database, opener: LinkOpener, *, token: str, reason: str) -> Incident:
    """The member rejects the resolution: ``reopenIncident`` as them, with their reason."""
    actor, incident, _ = await _member(db, opener.open(LinkAction.REOPEN, token))
    assert incident is not None
    return await handling.reopen_incident(db, actor, incident_id=incident.id, reason=reason)


async def rate_handling(
    db: Database, opener: LinkOpener, *, token: str, score: int, comment: str | None
) -> Incident:
    """The member rates the handling: ``rateIncident`` as them."""
    actor, incident, _ = await _member(db, opener.open(LinkAction.RATE, token))
    assert incident is not None
    return await handling.rate_incident(db, actor, incident_id=incident.id, score=score, comment=comment)


async def unsubscribe(db: Database, opener: LinkOpener, *, token: str) -> tuple[NoticeKind, str]:
    """One kind of mail off for the member the link was sent to; the kind and the tenant's name."""
    member = opener.open(LinkAction.UNSUBSCRIBE, token)
    assert member.kind is not None
    _, _, tenant_name = await _member(db, member)
    await preferences.turn_off(
        db, tenant_id=member.tenant_id, membership_id=member.membership_id, kind=member.kind
    )
    return member.kind, tenant_name
