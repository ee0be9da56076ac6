"""GraphQL types of notices: a member's mail address and notification preferences in one tenant."""

from __future__ import annotations

import strawberry

from api.mapping import mapped
from api.tenancy.types import InTenant
from domain.notices.member_models import NotificationPreferences as PreferencesRow


@strawberry.type(
    name="NotificationPreferences",
    description=(
        "The caller's mail address in a tenant and the mails they want there; no address: no mail at all"
    ),
)
class NotificationPreferences(InTenant):
    email: str | None
    public_updates: bool = strawberry.field(
        description="PUBLIC updates of incidents reported or watched (comments, changes of status)"
    )
    resolution: bool = strawberry.field(
        description="An incident reported or watched is resolved (its reporter: with links to confirm or reopen)"
    )
    survey: bool = strawberry.field(
        description="The satisfaction survey of an incident reported, once closed"
    )
    assignment: bool = strawberry.field(description="Staff: an incident is assigned to them")
    sla_at_risk: bool = strawberry.field(
        description="Staff: an SLA of an incident assigned to them is at risk"
    )
    row: strawberry.Private[PreferencesRow]

    @classmethod
    def from_row(cls, row: PreferencesRow) -> NotificationPreferences:
        return mapped(cls, row, row=row)
