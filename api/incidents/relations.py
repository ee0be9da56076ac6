"""Related records: linking incidents under one parent, and detaching a child."""

from __future__ import annotations

import strawberry

from api import fields
from api.context import Info
from api.errors import attempt
from api.incidents.mutations import IncidentPayload, IncidentsPayload, incident_id, incident_payload
from api.incidents.types import Incident
from api.permissions import IsAuthenticated
from domain.incidents import relations
from domain.incidents.models import Incident as IncidentRow


@strawberry.input(name="LinkInput")
class LinkInput:
    parent_id: strawberry.ID
    child_ids: list[strawberry.ID]


@strawberry.input(name="UnlinkInput")
class UnlinkInput:
    child_id: strawberry.ID


@strawberry.type
class RelationMutations:
    @fields.mutation(
        permission_classes=[IsAuthenticated],
        description=(
            "Make incidents children of one parent of the same tenant (AGENT): no cycles, no grandchildren,"
            " one parent per child. Answers the children, in the order given."
        ),
    )
    async def link_incidents(self, info: Info, input: LinkInput) -> IncidentsPayload:
        ctx = info.context

        async def run() -> list[IncidentRow]:
            parent = incident_id(input.parent_id, "input", "parentId")
            children = [incident_id(c, "input", "childIds", str(i)) for i, c in enumerate(input.child_ids)]
            return await relations.link_incidents(ctx.db, ctx.actor(), parent_id=parent, child_ids=children)

        rows, errors = await attempt(run)
        return IncidentsPayload(incidents=[Incident.from_row(r) for r in rows or []], user_errors=errors)

    @fields.mutation(
        permission_classes=[IsAuthenticated], description="Detach a child from its parent (AGENT)"
    )
    async def unlink_incident(self, info: Info, input: UnlinkInput) -> IncidentPayload:
        ctx = info.context

        async def run() -> IncidentRow:
            child = incident_id(input.child_id, "input", "childId")
            return await relations.unlink_incident(ctx.db, ctx.actor(), child)

        return incident_payload(*await attempt(run))
