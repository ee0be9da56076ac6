"""Incident reviews (postmortems): the types, their loaders and ``saveIncidentReview``.

Reviews are the staff's: CUSTOMER members see none (``Incident.review`` and ``node`` answer null).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import strawberry

from api import fields
from api.context import Context, Info
from api.errors import UserError
from api.incidents import loaders
from api.incidents.types import Incident
from api.mapping import mapped
from api.mutation import Mutation
from api.permissions import IsAuthenticated
from api.relay import Node, encode_id
from domain.incidents import models as m
from domain.incidents import reads, reviews
from domain.visibility import Part

Key = tuple[uuid.UUID, uuid.UUID]  # (tenant_id, id)


@strawberry.type(name="ActionItem")
class ActionItem:
    id: strawberry.ID
    title: str
    owner: str | None
    due_date: str | None
    done: bool
    problem_ref: str | None

    @classmethod
    def from_row(cls, row: m.ReviewActionItem) -> ActionItem:
        due_date = row.due_date.isoformat() if row.due_date else None
        return mapped(cls, row, id=encode_id("ActionItem", row.id), due_date=due_date)


@strawberry.type(name="IncidentReview")
class IncidentReview(Node):
    summary: str
    root_cause: str | None
    what_went_well: str | None
    what_went_wrong: str | None
    published: bool
    published_by: str | None
    published_at: datetime | None
    updated_at: datetime
    row: strawberry.Private[m.IncidentReview]

    @classmethod
    def from_row(cls, row: m.IncidentReview) -> IncidentReview:
        return mapped(cls, row, id=encode_id("IncidentReview", row.id), row=row)

    @strawberry.field
    async def incident(self, info: Info) -> Incident:
        row = await info.context.loader(loaders.load_incidents).load(self.row.incident_id)
        if row is None:  # pragma: no cover - a review is only visible with its incident
            raise LookupError(self.row.incident_id)
        return Incident.from_row(row)

    @strawberry.field
    async def action_items(self, info: Info) -> list[ActionItem]:
        rows = await info.context.loader(load_action_items).load((self.row.tenant_id, self.row.id))
        return [ActionItem.from_row(row) for row in rows]


async def load_action_items(ctx: Context, keys: Sequence[Key]) -> list[list[m.ReviewActionItem]]:
    async with ctx.read() as session:
        return await reads.action_items(session, keys)


async def load_reviews(ctx: Context, keys: Sequence[Key]) -> list[m.IncidentReview | None]:
    """Reviews by their incident's (tenant_id, id)."""
    async with ctx.read() as session:
        return await reads.reviews(session, keys)


async def review_of(ctx: Context, incident: m.Incident) -> IncidentReview | None:
    """``Incident.review``: staff only."""
    if not ctx.sees(incident.tenant_id, Part.REVIEW):
        return None
    row = await ctx.loader(load_reviews).load((incident.tenant_id, incident.id))
    return IncidentReview.from_row(row) if row is not None else None


async def review_node(ctx: Context, key: uuid.UUID) -> IncidentReview | None:
    async with ctx.read() as session:
        row = await reads.review_by_id(session, key)
    if row is None or not ctx.sees(row.tenant_id, Part.REVIEW):
        return None
    return IncidentReview.from_row(row)


@strawberry.input(name="ActionItemInput")
class ActionItemInput:
    title: str
    owner: str | None = None
    due_date: str | None = None
    problem_ref: str | None = None


@strawberry.input(name="ReviewInput")
class ReviewInput:
    incident_id: strawberry.ID
    summary: str
    root_cause: str | None = None
    what_went_well: str | None = None
    what_went_wrong: str | None = None
    action_items: list[ActionItemInput] | None = None
    publish: bool | None = False


@strawberry.type(name="ReviewPayload")
class ReviewPayload:
    review: IncidentReview | None
    user_errors: list[UserError]


@strawberry.type
class ReviewMutations:
    @fields.mutation(
        permission_classes=[IsAuthenticated],
        description="Create or update an incident's review (AGENT); publishing needs a MANAGER",
    )
    async def save_incident_review(self, info: Info, input: ReviewInput) -> ReviewPayload:
        run = Mutation(info)
        spec = reviews.ReviewSpec(
            incident_id=run.node_id(input.incident_id, "Incident", "incident_id"),
            summary=input.summary,
            root_cause=input.root_cause,
            what_went_well=input.what_went_well,
            what_went_wrong=input.what_went_wrong,
            action_items=None
            if input.action_items is None
            else [
                reviews.ActionItemSpec(
                    title=item.title, owner=item.owner, due_date=item.due_date, problem_ref=item.problem_ref
                )
                for item in input.action_items
            ],
            publish=bool(input.publish),
        )
        row, errors = await run(reviews.save_incident_review, spec)
        return ReviewPayload(review=IncidentReview.from_row(row) if row else None, user_errors=errors)
