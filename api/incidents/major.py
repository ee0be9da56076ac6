"""Major incidents: the declaration and its Incident Commander, the swarm, and a provider's outage fanned
out to the customer tenants it affects."""

from __future__ import annotations

import strawberry

from api import fields
from api.context import Info
from api.incidents.mutations import IncidentMutation, IncidentRefInput, IncidentsPayload, Step, step_mutations
from api.incidents.types import Incident, ResponderRole
from api.permissions import IsAuthenticated
from domain.incidents import major
from domain.incidents.steps import MAX_BATCH

AUTH = [IsAuthenticated]


@strawberry.input(name="DeclareMajorInput")
class DeclareMajorInput(IncidentRefInput):
    commander: str


@strawberry.input(name="AddResponderInput")
class AddResponderInput:
    id: strawberry.ID
    subject: str
    role: ResponderRole


@strawberry.input(name="AffectTenantsInput")
class AffectTenantsInput:
    id: strawberry.ID
    tenants: list[strawberry.ID]
    public_title: str
    public_description: str


MajorSteps = step_mutations(
    "MajorSteps",
    [
        Step(major.declare_major_incident, DeclareMajorInput, "MANAGER; names the Incident Commander"),
        Step(
            major.add_responder, AddResponderInput, "A member of the tenant's staff joins the swarm (AGENT)"
        ),
    ],
)


@strawberry.type
class MajorMutations:
    @fields.mutation(
        permission_classes=AUTH,
        description=(
            "Child incidents in other tenants, linked to this one (AGENT in every tenant named). The parent's"
            " PUBLIC comments, status and resolution flow to them. Answers the children, in the order given."
        ),
    )
    async def affect_tenants(self, info: Info, input: AffectTenantsInput) -> IncidentsPayload:
        run = IncidentMutation(info, input.id, tenant_ids="tenants")
        rows, errors = await run(
            major.affect_tenants,
            incident_id=run.incident_id,
            tenant_ids=await run.any_tenant_ids(input.tenants, "tenant_ids", at_most=MAX_BATCH),
            public_title=input.public_title,
            public_description=input.public_description,
        )
        return IncidentsPayload(incidents=[Incident.from_row(r) for r in rows or []], user_errors=errors)
