"""Recurring incidents (``recurringIncidents``) and handing a group to problem management
(``referIncidentsToProblem``); the rules are ``domain/incidents/recurring.py`` and ``reviews.py``."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from api import fields
from api.catalog.types import Service, service_by_key
from api.context import Context, Info
from api.errors import UserError
from api.incidents.loaders import load_incidents
from api.incidents.reviews import IncidentReview
from api.incidents.types import Incident
from api.mutation import Mutation
from api.permissions import IsAuthenticated
from api.tenancy.resolve import tenant_report
from domain.incidents import recurring, reviews
from domain.incidents.steps import MAX_BATCH

strawberry.enum(recurring.RecurrenceReason, name="RecurrenceReason")
RecurrenceReason = recurring.RecurrenceReason


@strawberry.type(name="RecurringIncidentGroup", description="Similar incidents: a problem candidate")
class RecurringIncidentGroup:
    reason: RecurrenceReason
    category: str | None = strawberry.field(description="The category they share (same service and category)")
    tenant_id: strawberry.Private[uuid.UUID]
    service_id: strawberry.Private[uuid.UUID | None]
    incident_ids: strawberry.Private[tuple[uuid.UUID, ...]]

    @fields.field(description="The service they share (same service and category)")
    async def service(self, info: Info) -> Service | None:
        return await service_by_key(info.context, self.tenant_id, self.service_id)

    @fields.field(description="Oldest first")
    async def incidents(self, info: Info) -> list[Incident]:
        rows = await info.context.loader(load_incidents).load_many(list(self.incident_ids))
        return [Incident.from_row(row) for row in rows if row is not None]


async def recurring_incidents(
    ctx: Context, tenant: str | None, start: datetime, end: datetime
) -> list[RecurringIncidentGroup]:
    tenant_id, groups = await tenant_report(
        ctx,
        tenant,
        lambda tenant_id: recurring.recurring_incidents(
            ctx.db, ctx.actor(), tenant_id=tenant_id, start=start, end=end
        ),
    )
    return [
        RecurringIncidentGroup(
            reason=group.reason,
            category=group.category,
            tenant_id=tenant_id,
            service_id=group.service_id,
            incident_ids=group.incident_ids,
        )
        for group in groups
    ]


@strawberry.input(name="ReferToProblemInput")
class ReferToProblemInput:
    incident_ids: list[strawberry.ID]
    problem_ref: str


@strawberry.type(name="ReviewsPayload")
class ReviewsPayload:
    reviews: list[IncidentReview]
    user_errors: list[UserError]


@strawberry.type
class RecurringMutations:
    @fields.mutation(
        permission_classes=[IsAuthenticated],
        description=(
            "MANAGER: each incident's review gets an action item with the problem reference (a draft review"
            " when it has none); referring again changes nothing. Answers the reviews, in the order given."
        ),
    )
    async def refer_incidents_to_problem(self, info: Info, input: ReferToProblemInput) -> ReviewsPayload:
        run = Mutation(info)
        incident_ids = run.node_ids(input.incident_ids, "Incident", "incident_ids", at_most=MAX_BATCH)
        rows, errors = await run(
            reviews.refer_to_problem, incident_ids=incident_ids, problem_ref=input.problem_ref
        )
        return ReviewsPayload(
            reviews=[IncidentReview.from_row(row) for row in rows or []], user_errors=errors
        )
