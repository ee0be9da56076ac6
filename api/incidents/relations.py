"""Related records: linking incidents under one parent, and detaching a child."""

from __future__ import annotations

import strawberry

from api import fields
from api.context import Info
from api.incidents.mutations import IncidentPayload, IncidentsPayload, incident_payload
from api.incidents.types import Incident
from api.mutation import Mutation
from api.permissions import IsAuthenticated
from domain.incidents import relations
from domain.incidents.steps import MAX_BATCH


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
        run = Mutation(info)
        rows, errors = await run(
            relations.link_incidents,
            parent_id=run.node_id(input.parent_id, "Incident", "parent_id"),
            child_ids=run.node_ids(input.child_ids, "Incident", "child_ids", at_most=MAX_BATCH),
        )
        return IncidentsPayload(incidents=[Incident.from_row(r) for r in rows or []], user_errors=errors)

    @fields.mutation(
        permission_classes=[IsAuthenticated], description="Detach a child from its parent (AGENT)"
    )
    async def unlink_incident(self, info: Info, input: UnlinkInput) -> IncidentPayload:
        run = Mutation(info)
        child_id = run.node_id(input.child_id, "Incident", "child_id")
        return incident_payload(*await run(relations.unlink_incident, child_id))
