"""GraphQL types of the incident practice: thin classes over the domain's rows.

Each type's ``from_row`` names the fields that differ from the row's columns (``api.mapping`` copies the
others); relations resolve through the request's DataLoaders (api/incidents/loaders.py), never by lazy
loading. The incident stands above the tenant, the catalogue, the SLA clocks and the playbooks, whose
modules it imports; its work log and its review link back to it, so those two fields are links upward
(``api.refs``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from api import fields
from api.catalog.types import Service, service_by_key
from api.context import Info
from api.incidents import loaders

# The enums are named from here too (mutations, queries, filters): ``X as X`` re-exports them.
from api.incidents.enums import HoldReason as HoldReason
from api.incidents.enums import Impact as Impact
from api.incidents.enums import IncidentEventKind as IncidentEventKind
from api.incidents.enums import IncidentSource as IncidentSource
from api.incidents.enums import IncidentStatus as IncidentStatus
from api.incidents.enums import Priority as Priority
from api.incidents.enums import ResolutionCode as ResolutionCode
from api.incidents.enums import ResponderRole as ResponderRole
from api.incidents.enums import Urgency as Urgency
from api.incidents.enums import Visibility as Visibility
from api.incidents.playbooks import IncidentModel, model_of
from api.mapping import mapped
from api.notices.loaders import load_watching
from api.refs import IncidentReviewRef, WorkLogEntryRef
from api.relay import Connection, Edge, Node, PageInfo, PageRequest, encode_cursor, encode_id
from api.sla import queries as sla
from api.sla.types import SlaClock
from api.tenancy.types import InTenant
from domain.incidents import models as m
from domain.incidents.read_model import INCIDENT
from domain.reads.selection import Window
from domain.visibility import Part, sight_in


@strawberry.type(name="Resolution")
class Resolution:
    code: ResolutionCode
    notes: str
    resolved_by: str
    at: datetime


@strawberry.type(name="Satisfaction")
class Satisfaction:
    score: int
    comment: str | None
    at: datetime


@strawberry.type(name="Responder")
class Responder:
    subject: str
    role: ResponderRole
    added_at: datetime

    @classmethod
    def from_row(cls, row: m.Responder) -> Responder:
        return mapped(cls, row)


@strawberry.type(name="IncidentTask")
class IncidentTask:
    id: strawberry.ID
    title: str
    done: bool

    @classmethod
    def from_row(cls, row: m.IncidentTask) -> IncidentTask:
        return mapped(cls, row, id=encode_id("IncidentTask", row.id))


@strawberry.type(name="Incident")
class Incident(Node, InTenant):
    number: str
    title: str
    description: str
    status: IncidentStatus
    source: IncidentSource
    category: str | None
    impact: Impact
    urgency: Urgency
    priority: Priority
    priority_overridden: bool
    major: bool
    reported_by: str
    assignee: str | None
    assignment_group: str | None
    workaround: str | None
    on_hold_reason: HoldReason | None
    version: int
    detected_at: datetime | None
    reported_at: datetime
    responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    row: strawberry.Private[m.Incident]

    @classmethod
    def from_row(cls, row: m.Incident) -> Incident:
        return mapped(cls, row, id=encode_id("Incident", row.id), number=row.display_number, row=row)

    @property
    def key(self) -> loaders.IncidentKey:
        return (self.row.tenant_id, self.row.id)

    @strawberry.field
    async def service(self, info: Info) -> Service | None:
        return await service_by_key(info.context, self.row.tenant_id, self.row.service_id)

    @fields.field(description="The swarm; COMMANDER is the Incident Commander")
    async def responders(self, info: Info) -> list[Responder]:
        # Who works the incident inside the provider is internal work: customers see the incident only.
        if not info.context.sees(self.row.tenant_id, Part.RESPONDERS):
            return []
        rows = await info.context.loader(loaders.load_responders).load(self.key)
        return [Responder.from_row(r) for r in rows]

    @fields.field(description="Null also when the parent is outside the caller's tenants")
    async def parent(self, info: Info) -> Incident | None:
        parent_id = await info.context.loader(loaders.load_parent_ids).load(self.key)
        if parent_id is None:
            return None
        row = await info.context.loader(loaders.load_incidents).load(parent_id)
        return Incident.from_row(row) if row is not None else None

    @strawberry.field
    async def children(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> IncidentConnection:
        request = PageRequest(first=first, after=after)
        sort = INCIDENT.relation("children").sort
        assert sort is not None
        window = request.window([_column_type(m.Incident, c) for c in sort.columns])
        ctx = info.context
        sight = sight_in(ctx.principal, self.row.tenant_id)
        key = loaders.PageKey(self.row.tenant_id, self.row.id, window, sight)
        page = await ctx.loader(loaders.load_children).load(key)
        edges = [
            IncidentEdge(cursor=encode_cursor([r.reported_at, r.id]), node=Incident.from_row(r))
            for r in page.rows
        ]

        async def count() -> int:
            counts = ctx.loader(loaders.load_children_counts)
            return await counts.load((self.row.tenant_id, self.row.id, sight))

        return IncidentConnection(edges=edges, page_info=_page_info(edges, page.more, window), count=count)

    @strawberry.field
    def resolution(self) -> Resolution | None:
        row = self.row
        if row.resolution_code is None or row.resolved_at is None:
            return None
        return Resolution(
            code=row.resolution_code,
            notes=row.resolution_notes or "",
            resolved_by=row.resolved_by or "",
            at=row.resolved_at,
        )

    @strawberry.field
    def satisfaction(self) -> Satisfaction | None:
        row = self.row
        if row.satisfaction_score is None or row.rated_at is None:
            return None
        return Satisfaction(score=row.satisfaction_score, comment=row.satisfaction_comment, at=row.rated_at)

    @fields.field(description="Checklist, e.g. from an incident model; empty for CUSTOMER members")
    async def tasks(self, info: Info) -> list[IncidentTask]:
        if not info.context.sees(self.row.tenant_id, Part.TASKS):
            return []
        rows = await info.context.loader(loaders.load_tasks).load(self.key)
        return [IncidentTask.from_row(r) for r in rows]

    @fields.field(description="Sum of the work log, for billing of handling activities")
    async def time_spent_minutes(self, info: Info) -> int:
        # Imported here: billing's types import this module (a work log entry links to its incident).
        from api.billing.queries import time_spent_of

        return await time_spent_of(info.context, self.row)

    @fields.field(description="Time logged on the incident, by when it was done; empty for CUSTOMER members")
    async def work_log(self, info: Info) -> list[WorkLogEntryRef]:
        # Imported here: billing's types import this module (a work log entry links to its incident).
        from api.billing.queries import work_log_of

        return await work_log_of(info.context, self.row)

    @fields.field(description="The incident model applied last; null for CUSTOMER members")
    async def model(self, info: Info) -> IncidentModel | None:
        return await model_of(info.context, self.row)

    @fields.field(description="The review (postmortem); null for CUSTOMER members")
    async def review(self, info: Info) -> IncidentReviewRef | None:
        # Imported here: the review module imports this one (a review links to its incident).
        from api.incidents.reviews import review_of

        return await review_of(info.context, self.row)

    @fields.field(description="Null when the tenant has no contract in force at reportedAt")
    async def response_sla(self, info: Info) -> SlaClock | None:
        return await sla.response_sla(info.context, self.row)

    @fields.field(description="Null when the tenant has no contract in force at reportedAt")
    async def resolution_sla(self, info: Info) -> SlaClock | None:
        return await sla.resolution_sla(info.context, self.row)

    @fields.field(description="Vendor of a functional escalation; null for CUSTOMER members")
    def vendor(self, info: Info) -> str | None:
        return self.row.vendor if info.context.sees(self.row.tenant_id, Part.VENDOR) else None

    @fields.field(description="The vendor's ticket reference; null for CUSTOMER members")
    def vendor_ticket(self, info: Info) -> str | None:
        return self.row.vendor_ticket if info.context.sees(self.row.tenant_id, Part.VENDOR) else None

    @fields.field(description="Escalated hierarchically: flagged for managers (false for customers)")
    def escalated_to_managers(self, info: Info) -> bool:
        return self.row.escalated_to_managers and info.context.sees(self.row.tenant_id, Part.ESCALATION)

    @fields.field(description="Whether the caller watches it: its PUBLIC updates reach them by mail")
    async def watching(self, info: Info) -> bool:
        return await info.context.loader(load_watching).load(self.key)

    @fields.field(description="Why the incident was cancelled")
    def cancel_reason(self) -> str | None:
        return self.row.cancel_reason

    @fields.field(description="Oldest first; last: N gives the N newest")
    async def timeline(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> TimelineConnection:
        window = PageRequest(first=first, after=after, last=last, before=before).window([int])
        ctx = info.context
        sight = sight_in(ctx.principal, self.row.tenant_id)
        key = loaders.PageKey(self.row.tenant_id, self.row.id, window, sight)
        page = await ctx.loader(loaders.load_timelines).load(key)
        edges = [TimelineEdge(cursor=event_cursor(r), node=IncidentEvent.from_row(r)) for r in page.rows]

        async def count() -> int:
            counts = ctx.loader(loaders.load_timeline_counts)
            return await counts.load((self.row.tenant_id, self.row.id, sight))

        return TimelineConnection(edges=edges, page_info=_page_info(edges, page.more, window), count=count)


def event_cursor(row: m.IncidentEvent) -> str:
    return encode_cursor([row.seq])


def _column_type(model: Any, column: str) -> type:
    kind: type = model.__table__.c[column].type.python_type
    return kind


def _page_info(edges: list[Any], more: bool, window: Window) -> PageInfo:
    """Relay's page info: more rows in the walking direction, and a cursor given on the other side."""
    return PageInfo(
        has_next_page=window.before is not None if window.backwards else more,
        has_previous_page=more if window.backwards else window.after is not None,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )


@strawberry.type(name="IncidentConnection")
class IncidentConnection(Connection[Incident]):
    pass


IncidentEdge = Edge[Incident]


@strawberry.type(name="IncidentEvent")
class IncidentEvent(Node):
    cursor: str
    kind: IncidentEventKind
    visibility: Visibility
    actor: str | None
    message: str | None
    data: JSON
    at: datetime
    row: strawberry.Private[m.IncidentEvent]

    @classmethod
    def from_row(cls, row: m.IncidentEvent) -> IncidentEvent:
        return mapped(
            cls,
            row,
            id=encode_id("IncidentEvent", row.id),
            cursor=event_cursor(row),
            data=JSON(row.data),
            row=row,
        )

    @strawberry.field
    async def incident(self, info: Info) -> Incident:
        row = await info.context.loader(loaders.load_incidents).load(self.row.incident_id)
        if row is None:  # pragma: no cover - an event is only visible with its incident
            raise LookupError(self.row.incident_id)
        return Incident.from_row(row)


# Named TimelineConnection and TimelineEdge in the schema (``api.relay.ContractNames``).
@strawberry.type(name="TimelineConnection")
class TimelineConnection(Connection[IncidentEvent]):
    pass


TimelineEdge = Edge[IncidentEvent]


async def incident_by_id(info: Info, incident_id: uuid.UUID) -> Incident | None:
    """An incident through the request's loader; None when outside the caller's tenant scope."""
    row = await info.context.loader(loaders.load_incidents).load(incident_id)
    return Incident.from_row(row) if row is not None else None
