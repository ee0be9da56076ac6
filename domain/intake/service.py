"""Applying alerts: a monitoring event triggers, acknowledges or resolves an incident.

An integration key acts in its tenant as a system actor (``IntegrationActor``). Repeats of one alert are
recognised by the event's ``dedup_key``: at most one open incident per tenant holds a given key, which a
partial unique index guarantees. Alerts are applied by the intake's worker (``domain.intake.worker``),
which takes a tenant's alerts in the order they were accepted, one tenant at a time across replicas, so
fifty identical triggers open one incident and count forty-nine repeats.

``apply`` works inside the caller's transaction, so that the worker can apply many alerts in one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import ErrorCode, Refused
from domain.incidents import playbooks
from domain.incidents.enums import (
    OPEN_STATUSES,
    IncidentSource,
    IncidentStatus,
    ResolutionCode,
    Visibility,
)
from domain.incidents.handling import resolve
from domain.incidents.lifecycle import Operation
from domain.incidents.models import Incident
from domain.incidents.service import acknowledge
from domain.incidents.steps import MAX_TEXT, commit_step, open_incident, system_step
from domain.intake.alerts import Action, AlertEvent, alert_record, describe, impact_and_urgency
from domain.intake.keys import IntegrationActor
from domain.intake.models import IntegrationKey

MAX_TITLE = 300
MAX_DESCRIPTION = 20_000


@dataclass(frozen=True)
class Outcome:
    """What became of an alert: the incident it landed on, if any, and the alert log's words for it."""

    incident: Incident | None
    message: str
    created: bool = False


def _actor(key: IntegrationKey) -> IntegrationActor:
    return IntegrationActor(tenant_id=key.tenant_id, key_name=key.name)


def _title(summary: str) -> str:
    return summary if len(summary) <= MAX_TITLE else summary[: MAX_TITLE - 1] + "\u2026"


async def apply(
    session: AsyncSession,
    *,
    key: IntegrationKey,
    event: AlertEvent,
    dedup_key: str,
    received_at: datetime,
    open_incidents: OpenIncidents,
) -> Outcome:
    """Apply one accepted alert in the session's transaction (scoped to the key's tenant);
    ``open_incidents`` is shared by the alerts applied in the same transaction."""
    if event.action is Action.TRIGGER:
        return await _trigger(
            session,
            key=key,
            event=event,
            dedup_key=dedup_key,
            received_at=received_at,
            open_incidents=open_incidents,
        )
    incident = await open_incidents.find(session, key.tenant_id, dedup_key)
    if incident is None:
        return Outcome(None, "Event processed; no open incident has this dedup_key")
    actor = _actor(key)
    role = actor.role_in(key.tenant_id)
    assert role is not None, "an integration key acts in its own tenant"
    try:
        if event.action is Action.ACKNOWLEDGE:
            if incident.status is not IncidentStatus.NEW:
                return Outcome(incident, "Event processed; the incident is already acknowledged")
            await acknowledge(session, actor=actor, incident=incident, role=role)
        else:
            notes = (event.summary or f"Resolved by monitoring: {incident.title}")[:MAX_TEXT]
            await resolve(
                session, actor=actor, incident=incident, role=role, code=ResolutionCode.FIXED, notes=notes
            )
    except Refused as refused:
        # Refusals come before any write: nothing of the transaction is spoilt.
        if any(p.code is ErrorCode.INVALID_TRANSITION for p in refused.problems):
            return Outcome(incident, "Event processed; the incident is no longer open to it")
        raise
    return Outcome(incident, "Event processed")


class OpenIncidents:
    """The open incident of each dedup key as this transaction has left it. A batch applies many alerts
    before anything is flushed, so the database still shows the incidents as they were before the batch:
    a repeat must find the incident an earlier alert of the batch opened, and not one it resolved."""

    def __init__(self) -> None:
        self._known: dict[str, Incident | None] = {}

    async def find(self, session: AsyncSession, tenant_id: uuid.UUID, dedup_key: str) -> Incident | None:
        if dedup_key not in self._known:
            self._known[dedup_key] = await session.scalar(
                select(Incident)
                .where(
                    Incident.tenant_id == tenant_id,
                    Incident.alert_dedup_key == dedup_key,
                    Incident.status.in_(OPEN_STATUSES),
                )
                .with_for_update()
            )
        incident = self._known[dedup_key]
        return incident if incident is not None and incident.status in OPEN_STATUSES else None

    def opened(self, dedup_key: str, incident: Incident) -> None:
        self._known[dedup_key] = incident


async def _trigger(
    session: AsyncSession,
    *,
    key: IntegrationKey,
    event: AlertEvent,
    dedup_key: str,
    received_at: datetime,
    open_incidents: OpenIncidents,
) -> Outcome:
    """Open a MONITORING incident, or count a repeat on the open incident holding the dedup key."""
    payload = event.payload
    assert payload is not None, "a trigger has a payload (parse_event checks it)"
    actor = _actor(key)
    incident = await open_incidents.find(session, key.tenant_id, dedup_key)
    if incident is not None:
        received = system_step(incident, Operation.RECEIVE_ALERT)
        assert received is not None, "an open incident counts a repeated alert"
        incident.alert_count += 1
        await commit_step(
            session,
            incident,
            received,
            actor.subject,
            visibility=Visibility.INTERNAL,
            message=payload.summary,
            data={**alert_record(event), "dedupKey": dedup_key, "count": incident.alert_count},
        )
        return Outcome(incident, "Event processed")
    # Incidents that answered this alert before and are no longer open give the key up, so that a reopen
    # of one of them can never clash with the incident opened now. Flushed first: the batch may have
    # resolved one of them.
    await session.flush()
    await session.execute(
        update(Incident)
        .where(
            Incident.tenant_id == key.tenant_id,
            Incident.alert_dedup_key == dedup_key,
            Incident.status.not_in(OPEN_STATUSES),
        )
        .values(alert_dedup_key=None)
        .execution_options(synchronize_session=False)
    )
    impact, urgency = impact_and_urgency(payload.severity)
    # When monitoring saw it, if it says; never later than when it reached us.
    detected = min(payload.timestamp, received_at) if payload.timestamp is not None else received_at
    incident = await open_incident(
        session,
        tenant_id=key.tenant_id,
        title=_title(payload.summary),
        description=describe(event)[:MAX_DESCRIPTION],
        source=IncidentSource.MONITORING,
        impact=impact,
        urgency=urgency,
        reported_by=(actor.subject, actor.issuer),
        service_id=key.service_id,
        detected_at=detected,
        alert_dedup_key=dedup_key,
        created={"dedupKey": dedup_key, "severity": payload.severity.value},
    )
    model = await playbooks.matching_model(session, incident)
    if model is not None:
        # The alert's severity is what monitoring said: it wins over the model's classification.
        await playbooks.apply_model(session, incident, model, None, keep={"impact", "urgency"})
    open_incidents.opened(dedup_key, incident)
    return Outcome(incident, "Event processed", created=True)
