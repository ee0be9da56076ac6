"""Incident mails, decided as each incident event is recorded, in the event's own transaction.

Customers (and anyone watching) hear of what a customer may read: the incident's reporter and its
watchers are mailed every PUBLIC update (a PUBLIC comment, a change of status), the resolution with
links to confirm or reopen it, and, once closed, the satisfaction survey (the reporter, who alone may
rate). Staff hear of their own work: the assignee when an incident is assigned to them, and when its
SLA is at risk. Each member is mailed only at an address they gave, only the kinds they left on, never
about their own doing, and at most once per event.

What a customer mail says is made from the event and the incident's public fields alone, whoever
receives it: an INTERNAL event causes no customer mail at all, and no internal field (vendor,
escalation, model, tasks, responders) is ever put in one. Staff mails go only to AGENT and MANAGER
members.

An event that can cause no mail costs nothing; one that can costs one statement to find its recipients
with their preferences, and one insert per mail.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from domain.incidents.enums import (
    HoldReason,
    IncidentEventKind,
    IncidentStatus,
    ResolutionCode,
    Visibility,
)
from domain.incidents.models import Incident, IncidentEvent
from domain.mail.outbox import queue_notice
from domain.mail.rendering import Link
from domain.notices.links import MemberLink, incident_links, unsubscribe_link
from domain.notices.member_models import IncidentWatcher, NotificationPreferences
from domain.notices.preferences import NoticeKind
from domain.tenancy.models import Membership, Tenant
from domain.tenancy.roles import Role

K = IncidentEventKind

# PUBLIC events that tell a customer something new: comments and the changes of status they can see.
# (A resolution has a mail of its own; a closure is the survey for the reporter, an update for the rest.)
PUBLIC_UPDATES = frozenset(
    {
        K.COMMENTED,
        K.ACKNOWLEDGED,
        K.PUT_ON_HOLD,
        K.RESUMED,
        K.WORKAROUND_APPLIED,
        K.REOPENED,
        K.CANCELLED,
        K.CLOSED,
    }
)
STAFF = (Role.AGENT, Role.MANAGER)

STATUS_LABELS = {
    IncidentStatus.NEW: "New",
    IncidentStatus.IN_PROGRESS: "In progress",
    IncidentStatus.ON_HOLD: "On hold",
    IncidentStatus.RESOLVED: "Resolved",
    IncidentStatus.CLOSED: "Closed",
    IncidentStatus.CANCELLED: "Cancelled",
}
UPDATE_LABELS = {
    K.COMMENTED: "New comment",
    K.ACKNOWLEDGED: "Work has started",
    K.ASSIGNED: "Work has started",
    K.PUT_ON_HOLD: "On hold",
    K.RESUMED: "Work has resumed",
    K.WORKAROUND_APPLIED: "A workaround is available",
    K.REOPENED: "Reopened",
    K.CANCELLED: "Cancelled",
    K.CLOSED: "Closed",
    K.RESOLVED: "Resolved",
}
HOLD_LABELS = {
    HoldReason.AWAITING_CUSTOMER: "waiting for an answer from the customer",
    HoldReason.AWAITING_VENDOR: "waiting for a vendor",
    HoldReason.AWAITING_CHANGE: "waiting for a planned change",
}
RESOLUTION_LABELS = {
    ResolutionCode.FIXED: "Fixed",
    ResolutionCode.WORKAROUND_APPLIED: "Workaround applied",
    ResolutionCode.NO_FAULT_FOUND: "No fault found",
    ResolutionCode.DUPLICATE: "Duplicate of another incident",
    ResolutionCode.USER_ERROR: "Not a fault of the service",
    ResolutionCode.VENDOR_FIX: "Fixed by the vendor",
}


class Why(enum.StrEnum):
    """How a member comes to hear of an incident."""

    REPORTER = "reporter"
    WATCHER = "watcher"
    ASSIGNEE = "assignee"


@dataclass(frozen=True)
class Occasion:
    """What an event may tell: to its customers (``customers``: the kind of mail) and to one member of
    staff (``staff``, to the subject ``assignee``)."""

    customers: NoticeKind | None = None
    staff: NoticeKind | None = None
    assignee: str | None = None


def occasion_of(incident: Incident, event: IncidentEvent) -> Occasion | None:
    """What the event may tell, and to whom; None when it tells no one anything (no statement is run)."""
    customers: NoticeKind | None = None
    if event.visibility is Visibility.PUBLIC:
        if event.kind is K.RESOLVED:
            customers = NoticeKind.RESOLUTION
        elif event.kind in PUBLIC_UPDATES or _first_response(incident, event):
            customers = NoticeKind.PUBLIC_UPDATES
    staff: NoticeKind | None = None
    assignee: str | None = None
    if event.kind is K.ASSIGNED:
        data = event.data or {}
        before = data.get("before") or {}
        named = data.get("assignee")
        # A new assignee, who did not pick the incident up themselves.
        if isinstance(named, str) and named != before.get("assignee") and named != event.actor:
            staff, assignee = NoticeKind.ASSIGNMENT, named
    elif event.kind is K.SLA_AT_RISK and incident.assignee:
        staff, assignee = NoticeKind.SLA_AT_RISK, incident.assignee
    if customers is None and staff is None:
        return None
    return Occasion(customers=customers, staff=staff, assignee=assignee)


def _first_response(incident: Incident, event: IncidentEvent) -> bool:
    """Whether the event is the first response to a NEW incident (an assignment, for instance): work
    has started, which the customer can see. ``commit_step`` stamps ``respondedAt`` with the event's
    own time then."""
    return incident.status is IncidentStatus.IN_PROGRESS and incident.responded_at == event.at


@dataclass
class Recipient:
    membership_id: uuid.UUID
    subject: str
    role: Role
    preferences: NotificationPreferences
    tenant_name: str
    why: set[Why] = field(default_factory=set)

    def wants(self, kind: NoticeKind) -> bool:
        return bool(getattr(self.preferences, kind.value))

    @property
    def address(self) -> str:
        assert self.preferences.email is not None
        return self.preferences.email


def _why(why: Why) -> Any:
    return literal(why.value).label("why")


def _recipients_statement(incident: Incident, occasion: Occasion) -> Select[Any]:
    """The members the occasion may concern, with their preferences and why: one statement."""
    tenant_id = incident.tenant_id
    who = []
    if occasion.customers is not None:
        who.append(
            select(Membership.id.label("membership_id"), _why(Why.REPORTER)).where(
                Membership.tenant_id == tenant_id,
                Membership.issuer == incident.reported_by_issuer,
                Membership.subject == incident.reported_by,
            )
        )
        who.append(
            select(IncidentWatcher.membership_id.label("membership_id"), _why(Why.WATCHER)).where(
                IncidentWatcher.tenant_id == tenant_id, IncidentWatcher.incident_id == incident.id
            )
        )
    if occasion.staff is not None and occasion.assignee is not None:
        # An assignee is named by subject; only staff memberships hear of staff work.
        who.append(
            select(Membership.id.label("membership_id"), _why(Why.ASSIGNEE)).where(
                Membership.tenant_id == tenant_id,
                Membership.subject == occasion.assignee,
                Membership.role.in_(STAFF),
            )
        )
    members = union_all(*who).subquery("members")
    return (
        select(Membership.id, Membership.subject, Membership.role, NotificationPreferences, Tenant.name)
        .select_from(members)
        .join(Membership, and_(Membership.tenant_id == tenant_id, Membership.id == members.c.membership_id))
        .join(
            NotificationPreferences,
            and_(
                NotificationPreferences.tenant_id == tenant_id,
                NotificationPreferences.membership_id == Membership.id,
            ),
        )
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .add_columns(members.c.why)
        .where(NotificationPreferences.email.is_not(None))
    )


async def recipients(session: AsyncSession, incident: Incident, occasion: Occasion) -> list[Recipient]:
    found: dict[uuid.UUID, Recipient] = {}
    for membership_id, subject, role, preferences, tenant_name, why in await session.execute(
        _recipients_statement(incident, occasion)
    ):
        recipient = found.get(membership_id)
        if recipient is None:
            recipient = found[membership_id] = Recipient(
                membership_id, subject, role, preferences, tenant_name
            )
        recipient.why.add(Why(why))
    return list(found.values())


@dataclass(frozen=True)
class Notice:
    """One mail to queue: its template, why it exists, the kind of mail it is and its links."""

    template: str
    reason: str
    kind: NoticeKind
    links: dict[str, Link] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


def notice_for(
    recipient: Recipient, incident: Incident, event: IncidentEvent, occasion: Occasion
) -> Notice | None:
    """The one mail a member receives about the event, if any: their own work first (staff), then what
    the customers hear."""
    member = MemberLink(incident.tenant_id, recipient.membership_id, incident.id)
    if Why.ASSIGNEE in recipient.why and occasion.staff is not None and recipient.wants(occasion.staff):
        if occasion.staff is NoticeKind.ASSIGNMENT:
            return Notice("incident_assigned", "incident.assigned", occasion.staff)
        return Notice("incident_sla_at_risk", "incident.sla_at_risk", occasion.staff)
    if occasion.customers is None or not recipient.why & {Why.REPORTER, Why.WATCHER}:
        return None
    reporter = Why.REPORTER in recipient.why
    if (
        event.kind is K.CLOSED
        and reporter
        and incident.satisfaction_score is None
        and recipient.wants(NoticeKind.SURVEY)
    ):
        # Also to a reporter who closed it: the survey follows their confirmation.
        links = incident_links(member, resolution=False, survey=True)
        return Notice("incident_survey", "incident.survey", NoticeKind.SURVEY, links)
    if event.actor is not None and event.actor == recipient.subject:
        return None  # their own doing
    if occasion.customers is NoticeKind.RESOLUTION:
        if not recipient.wants(NoticeKind.RESOLUTION):
            return None
        # Confirming a resolution is the customer's word on it: the reporter's links (staff close and
        # reopen through the API).
        links = incident_links(member, resolution=reporter, survey=False)
        return Notice(
            "incident_resolved",
            "incident.resolved",
            NoticeKind.RESOLUTION,
            links,
            {"can_answer": bool(links)},
        )
    if not recipient.wants(NoticeKind.PUBLIC_UPDATES):
        return None
    return Notice("incident_update", "incident.public_update", NoticeKind.PUBLIC_UPDATES)


def public_facts(incident: Incident, event: IncidentEvent) -> dict[str, Any]:
    """What a customer mail may say: the event's PUBLIC content and the incident's public fields."""
    assert event.visibility is Visibility.PUBLIC
    resolved = incident.resolution_code is not None and incident.status is IncidentStatus.RESOLVED
    return {
        "number": incident.display_number,
        "title": incident.title,
        "status": STATUS_LABELS[incident.status],
        "update": UPDATE_LABELS.get(event.kind, "Update"),
        "message": event.message or "",
        "at": event.at.strftime("%Y-%m-%d %H:%M UTC"),
        "hold_reason": HOLD_LABELS[incident.on_hold_reason] if incident.on_hold_reason else "",
        "workaround": (incident.workaround or "") if event.kind is K.WORKAROUND_APPLIED else "",
        "resolution_code": RESOLUTION_LABELS[incident.resolution_code]
        if resolved and incident.resolution_code
        else "",
        "resolution_notes": (incident.resolution_notes or "") if resolved else "",
    }


def staff_facts(incident: Incident, event: IncidentEvent) -> dict[str, Any]:
    """What a staff mail says: the incident as its staff read it."""
    data = event.data or {}
    return {
        "number": incident.display_number,
        "title": incident.title,
        "status": STATUS_LABELS[incident.status],
        "priority": incident.priority.value,
        "assignment_group": incident.assignment_group or "",
        "by": event.actor or "",
        "message": event.message or "",
        # The scanner names the clock in its event's data: "response" or "resolution".
        "clock": "response" if data.get("clock") == "response" else "resolution",
        "target_minutes": data.get("targetMinutes") or 0,
    }


async def for_incident_event(session: AsyncSession, incident: Incident, event: IncidentEvent) -> None:
    """Queue the mails the event causes, in its transaction: they exist exactly when it does."""
    occasion = occasion_of(incident, event)
    if occasion is None:
        return
    for recipient in await recipients(session, incident, occasion):
        notice = notice_for(recipient, incident, event, occasion)
        if notice is None:
            continue
        facts = (
            staff_facts(incident, event)
            if notice.kind in (NoticeKind.ASSIGNMENT, NoticeKind.SLA_AT_RISK)
            else public_facts(incident, event)
        )
        await queue_notice(
            session,
            tenant_id=incident.tenant_id,
            to=recipient.address,
            template=notice.template,
            context={
                **facts,
                **notice.facts,
                "tenant": recipient.tenant_name,
                "reporter": Why.REPORTER in recipient.why,
            },
            reason=notice.reason,
            links={
                **notice.links,
                "unsubscribe": unsubscribe_link(incident.tenant_id, recipient.membership_id, notice.kind),
            },
        )
