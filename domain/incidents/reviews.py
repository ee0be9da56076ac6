"""Incident reviews (postmortems): root cause, what went well and wrong, and action items handed to
problem management through their problem reference. Staff write drafts; a MANAGER publishes. A major
incident cannot be closed before its review is published (see ``lifecycle.decide``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.columns import utcnow
from domain.db import Database, Scope, use_case
from domain.errors import ErrorCode, Refused, forbidden, invalid
from domain.incidents.models import Incident, IncidentReview, ReviewActionItem
from domain.incidents.steps import MAX_BATCH, MAX_NAME, MAX_TEXT, clean_text, load_for_update, required_text
from domain.tenancy.actor import Actor
from domain.tenancy.roles import Role, at_least

MAX_ACTION_ITEMS = 50


@dataclass(frozen=True)
class ActionItemSpec:
    title: str
    owner: str | None = None
    due_date: str | None = None
    problem_ref: str | None = None


@dataclass(frozen=True)
class ReviewSpec:
    incident_id: uuid.UUID
    summary: str
    root_cause: str | None = None
    what_went_well: str | None = None
    what_went_wrong: str | None = None
    # None keeps the review's items; a list replaces them.
    action_items: Sequence[ActionItemSpec] | None = None
    publish: bool = False


@dataclass(frozen=True)
class _Item:
    title: str
    owner: str | None
    due_date: date | None
    problem_ref: str | None


def _checked_items(items: Sequence[ActionItemSpec]) -> list[_Item]:
    if len(items) > MAX_ACTION_ITEMS:
        raise Refused.one(
            ErrorCode.LIMIT_EXCEEDED, f"at most {MAX_ACTION_ITEMS} action items", "action_items"
        )
    checked: list[_Item] = []
    for index, item in enumerate(items):
        path = ("action_items", str(index))
        due: date | None = None
        if item.due_date is not None and item.due_date.strip():
            try:
                due = date.fromisoformat(item.due_date.strip())
            except ValueError:
                raise invalid("must be an ISO date, e.g. 2026-12-31", *path, "due_date") from None
        checked.append(
            _Item(
                title=required_text(item.title, 300, *path, "title"),
                owner=clean_text(item.owner, MAX_NAME, *path, "owner") or None,
                due_date=due,
                problem_ref=clean_text(item.problem_ref, 100, *path, "problem_ref") or None,
            )
        )
    return checked


async def _review_of(session: AsyncSession, incident: Incident) -> IncidentReview | None:
    """The incident's one review, as stored now (its row may be in the session from an earlier read)."""
    review: IncidentReview | None = await session.scalar(
        select(IncidentReview)
        .where(IncidentReview.tenant_id == incident.tenant_id, IncidentReview.incident_id == incident.id)
        .execution_options(populate_existing=True)
    )
    return review


def _draft(
    session: AsyncSession, incident: Incident, actor: Actor, summary: str, now: datetime
) -> IncidentReview:
    """A new, unpublished review of the incident, added to the session."""
    review = IncidentReview(
        tenant_id=incident.tenant_id,
        id=uuid.uuid4(),
        incident_id=incident.id,
        summary=summary,
        published=False,
        created_by=actor.subject,
        created_at=now,
        updated_at=now,
    )
    session.add(review)
    return review


@use_case
async def save_incident_review(db: Database, actor: Actor, spec: ReviewSpec) -> IncidentReview:
    """Create or update the incident's review (AGENT); publishing, and changing a published review, need
    a MANAGER. Publishing is one-way: saving without ``publish`` keeps a published review published."""
    summary = required_text(spec.summary, MAX_TEXT, "summary")
    root_cause = clean_text(spec.root_cause, MAX_TEXT, "root_cause") or None
    went_well = clean_text(spec.what_went_well, MAX_TEXT, "what_went_well") or None
    went_wrong = clean_text(spec.what_went_wrong, MAX_TEXT, "what_went_wrong") or None
    items = _checked_items(spec.action_items) if spec.action_items is not None else None
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        # The incident's row lock serialises saves of its one review.
        incident, role = await load_for_update(session, actor, spec.incident_id, None, field=("incident_id",))
        if not at_least(role, Role.AGENT):
            raise forbidden("reviews are written by the AGENT role")
        if spec.publish and not at_least(role, Role.MANAGER):
            raise forbidden("publishing a review needs the MANAGER role", "publish")
        review = await _review_of(session, incident)
        now = utcnow()
        if review is None:
            review = _draft(session, incident, actor, summary, now)
        elif review.published and not at_least(role, Role.MANAGER):
            raise forbidden("a published review is changed by the MANAGER role")
        review.summary = summary
        review.root_cause = root_cause
        review.what_went_well = went_well
        review.what_went_wrong = went_wrong
        review.updated_at = now
        if spec.publish and not review.published:
            review.published, review.published_by, review.published_at = True, actor.subject, now
        await session.flush()
        if items is not None:
            await session.execute(
                delete(ReviewActionItem).where(
                    ReviewActionItem.tenant_id == review.tenant_id, ReviewActionItem.review_id == review.id
                )
            )
            for position, item in enumerate(items, start=1):
                session.add(
                    ReviewActionItem(
                        tenant_id=review.tenant_id,
                        id=uuid.uuid4(),
                        review_id=review.id,
                        position=position,
                        title=item.title,
                        owner=item.owner,
                        due_date=item.due_date,
                        done=False,
                        problem_ref=item.problem_ref,
                    )
                )
    return review


@use_case
async def refer_to_problem(
    db: Database, actor: Actor, *, incident_ids: Sequence[uuid.UUID], problem_ref: str
) -> list[IncidentReview]:
    """Hand recurring incidents to problem management (MANAGER): each incident's review gets an action
    item with the problem reference, and an incident without a review a draft one saying so. Referring
    an incident to the same problem again changes nothing. Answers the reviews, in the order given."""
    ref = required_text(problem_ref, 100, "problem_ref")
    if not incident_ids:
        raise invalid("name at least one incident", "incident_ids")
    if len(incident_ids) > MAX_BATCH:
        raise Refused.one(ErrorCode.LIMIT_EXCEEDED, f"at most {MAX_BATCH} incidents per call", "incident_ids")
    if len(set(incident_ids)) != len(incident_ids):
        raise invalid("names an incident twice", "incident_ids")
    reviews: list[IncidentReview] = []
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        # In id order, so two referrals of overlapping groups lock their incidents in the same order.
        locked = {}
        for index, incident_id in sorted(enumerate(incident_ids), key=lambda pair: pair[1]):
            incident, role = await load_for_update(
                session, actor, incident_id, None, field=("incident_ids", str(index))
            )
            if not at_least(role, Role.MANAGER):
                raise forbidden(
                    "referring incidents to a problem needs the MANAGER role", "incident_ids", str(index)
                )
            locked[incident_id] = incident
        now = utcnow()
        for incident_id in incident_ids:
            incident = locked[incident_id]
            review = await _review_of(session, incident)
            if review is None:
                review = _draft(
                    session, incident, actor, f"Referred to problem {ref} as a recurring incident.", now
                )
                await session.flush()
            items = list(
                await session.scalars(
                    select(ReviewActionItem).where(
                        ReviewActionItem.tenant_id == review.tenant_id,
                        ReviewActionItem.review_id == review.id,
                    )
                )
            )
            if not any(item.problem_ref == ref for item in items):
                if len(items) >= MAX_ACTION_ITEMS:
                    raise Refused.one(
                        ErrorCode.LIMIT_EXCEEDED,
                        f"the review of incident {incident.display_number} has {MAX_ACTION_ITEMS} action items",
                        "incident_ids",
                    )
                session.add(
                    ReviewActionItem(
                        tenant_id=review.tenant_id,
                        id=uuid.uuid4(),
                        review_id=review.id,
                        position=max((item.position for item in items), default=0) + 1,
                        title=f"Recurring incident: see problem {ref}",
                        owner=actor.subject,
                        due_date=None,
                        done=False,
                        problem_ref=ref,
                    )
                )
                review.updated_at = now
            reviews.append(review)
    return reviews
