"""Notices' mutations: watching incidents, and the caller's own notification preferences."""

from __future__ import annotations

import strawberry

from api import fields
from api.context import Info
from api.errors import UserError
from api.incidents.mutations import IncidentMutation, IncidentPayload, incident_payload
from api.mutation import Mutation, arguments_of
from api.notices.types import NotificationPreferences
from api.permissions import IsAuthenticated
from domain.notices import preferences, watching


@strawberry.input(name="WatchIncidentInput")
class WatchIncidentInput:
    id: strawberry.ID


@strawberry.input(
    name="UpdateNotificationPreferencesInput",
    description="Omitted (or null) fields stay as they are; an empty email removes the address",
)
class UpdateNotificationPreferencesInput:
    tenant: strawberry.ID | None = None
    email: str | None = None
    public_updates: bool | None = None
    resolution: bool | None = None
    survey: bool | None = None
    assignment: bool | None = None
    sla_at_risk: bool | None = None


@strawberry.type(name="NotificationPreferencesPayload")
class NotificationPreferencesPayload:
    preferences: NotificationPreferences | None
    user_errors: list[UserError]


@strawberry.type
class NoticeMutations:
    @fields.mutation(
        permission_classes=[IsAuthenticated],
        description="Receive the incident's PUBLIC updates and resolution by mail; any member who may read it",
    )
    async def watch_incident(self, info: Info, input: WatchIncidentInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        return incident_payload(*await run(watching.watch_incident, incident_id=run.incident_id))

    @fields.mutation(permission_classes=[IsAuthenticated], description="Stop watching the incident")
    async def unwatch_incident(self, info: Info, input: WatchIncidentInput) -> IncidentPayload:
        run = IncidentMutation(info, input.id)
        return incident_payload(*await run(watching.unwatch_incident, incident_id=run.incident_id))

    @fields.mutation(
        permission_classes=[IsAuthenticated],
        description="The caller's own mail address and choices in one of their tenants",
    )
    async def update_notification_preferences(
        self, info: Info, input: UpdateNotificationPreferencesInput
    ) -> NotificationPreferencesPayload:
        run = Mutation(info, names={"tenant_id": "tenant"})
        row, errors = await run(
            preferences.update_notification_preferences,
            tenant_id=await run.tenant_id(input.tenant, "tenant_id"),
            **arguments_of(input, skip=("tenant",)),
        )
        return NotificationPreferencesPayload(
            preferences=NotificationPreferences.from_row(row) if row is not None else None, user_errors=errors
        )
