"""Alert intake use cases: a monitoring event triggers, acknowledges or resolves an incident.

An integration key acts in its tenant as a system actor (``IntegrationActor``). Repeats of one alert are
recognised by the event's ``dedup_key``: at most one open incident per tenant holds a given key, which a
partial unique index guarantees. Triggers of one key are also serialised by a transaction-level advisory
lock, so fifty identical triggers arriving together open one incident and count forty-nine repeats rather
than fail on the index.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.columns import utcnow
from domain.db import Database, Scope, retrying
from domain.errors import ErrorCode, Refused
from domain.incidents import playbooks
from domain.incidents.enums import (
    OPEN_STATUSES,
    IncidentSource,
    IncidentStatus,
    ResolutionCode,
    Visibility,
)
from domain.incidents.handling import resolve_incident
from domain.incidents.lifecycle import Operation
from domain.incidents.models import Incident
from domain.incidents.service import acknowledge_incident
from domain.incidents.unit import commit_step, open_incident, system_step
from domain.intake.alerts import Action, AlertEvent, alert_record, describe, impact_and_urgency
from domain.intake.keys import IntegrationActor
from domain.intake.models import IntegrationKey

MAX_TITLE = 300
MAX_DESCRIPTION = 20_000
_OPEN_ALERT_INDEX = "uq_incidents_open_alert"
# A unique-index clash can only come from a reopened incident taking the key back at the same moment;
# the retry then finds that incident and counts the alert on it.
_ATTEMPTS = 3


@dataclass(frozen=True)
class Outcome:
    """What became of an event: the dedup key to answer with, and the incident it landed on, if any."""

    dedup_key: str
    incident: Incident | None
    message: str
    created: bool = False


async def handle(db: Database, key: IntegrationKey, event: AlertEvent) -> Outcome:
    """Apply one monitoring event. A deadlock or serialization failure runs it again: alerts of one
    tenant arrive in bursts and queue on the same counters, and a monitoring tool should not see a 500
    where a second try succeeds."""
    if event.action is Action.TRIGGER:
        # The dedup key is chosen once, so that a second try opens (or finds) the same incident.
        dedup_key = event.dedup_key or uuid.uuid4().hex
        return await retrying(lambda: trigger(db, key, event, dedup_key))
    if event.action is Action.ACKNOWLEDGE:
        return await retrying(lambda: acknowledge(db, key, event))
    return await retrying(lambda: resolve(db, key, event))


def _actor(key: IntegrationKey) -> IntegrationActor:
    return IntegrationActor(tenant_id=key.tenant_id, key_name=key.name)


def _title(summary: str) -> str:
    return summary if len(summary) <= MAX_TITLE else summary[: MAX_TITLE - 1] + "\u2026"


async def trigger(db: Database, key: IntegrationKey, event: AlertEvent, dedup_key: str) -> Outcome:
    """Open a MONITORING incident, or count a repeat on the open incident holding the dedup key."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return await _trigger_once(db, key, event, dedup_key)
        except IntegrityError as error:
            if _OPEN_ALERT_INDEX not in str(error.orig) or attempt == _ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _lock_dedup_key(session: AsyncSession, tenant_id: uuid.UUID, dedup_key: str) -> None:
    """Serialise every trigger of one dedup key in one tenant until the transaction ends."""
    name = f"incidentdesk:alert:{tenant_id}:{dedup_key}"
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(name, 0))))


async def _open_incident(session: AsyncSession, tenant_id: uuid.UUID, dedup_key: str) -> Incident | None:
    return await session.scalar(
        select(Incident)
        .where(
            Incident.tenant_id == tenant_id,
            Incident.alert_dedup_key == dedup_key,
            Incident.status.in_(OPEN_STATUSES),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def _trigger_once(db: Database, key: IntegrationKey, event: AlertEvent, dedup_key: str) -> Outcome:
    payload = event.payload
    assert payload is not None, "a trigger has a payload (parse_event checks it)"
    actor = _actor(key)
    now = utcnow()
    async with db.transaction(Scope.of([key.tenant_id])) as session:
        await _lock_dedup_key(session, key.tenant_id, dedup_key)
        incident = await _open_incident(session, key.tenant_id, dedup_key)
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
            return Outcome(dedup_key, incident, "Event processed")
        # Incidents that answered this alert before and are no longer open give the key up, so that a
        # reopen of one of them can never clash with the incident opened now.
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
        detected = min(payload.timestamp, now) if payload.timestamp is not None else now
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
    return Outcome(dedup_key, incident, "Event processed", created=True)


async def find_open(db: Database, key: IntegrationKey, dedup_key: str) -> Incident | None:
    async with db.transaction(Scope.of([key.tenant_id])) as session:
        return await session.scalar(
            select(Incident).where(
                Incident.tenant_id == key.tenant_id,
                Incident.alert_dedup_key == dedup_key,
                Incident.status.in_(OPEN_STATUSES),
            )
        )


async def acknowledge(db: Database, key: IntegrationKey, event: AlertEvent) -> Outcome:
    """Acknowledge the open incident of the dedup key. Like PagerDuty, an event that finds nothing to do
    (no open incident, or one already acknowledged) is accepted and changes nothing."""
    assert event.dedup_key is not None
    incident = await find_open(db, key, event.dedup_key)
    if incident is None:
        return Outcome(event.dedup_key, None, "Event processed; no open incident has this dedup_key")
    if incident.status is not IncidentStatus.NEW:
        return Outcome(event.dedup_key, incident, "Event processed; the incident is already acknowledged")
    try:
        incident = await acknowledge_incident(db, _actor(key), incident.id, None)
    except Refused as refused:
        if any(p.code is ErrorCode.INVALID_TRANSITION for p in refused.problems):
            # Acknowledged (or resolved) by someone else in the meantime: nothing left to do.
            return Outcome(event.dedup_key, incident, "Event processed; the incident is already acknowledged")
        raise
    return Outcome(event.dedup_key, incident, "Event processed")


async def resolve(db: Database, key: IntegrationKey, event: AlertEvent) -> Outcome:
    """Resolve the open incident of the dedup key with code FIXED and the alert's summary."""
    assert event.dedup_key is not None
    incident = await find_open(db, key, event.dedup_key)
    if incident is None:
        return Outcome(event.dedup_key, None, "Event processed; no open incident has this dedup_key")
    notes = event.summary or f"Resolved by monitoring: {incident.title}"
    try:
        incident = await resolve_incident(db, _actor(key), incident.id, None, ResolutionCode.FIXED, notes)
    except Refused as refused:
        if any(p.code is ErrorCode.INVALID_TRANSITION for p in refused.problems):
            return Outcome(event.dedup_key, incident, "Event processed; the incident is no longer open")
        raise
    return Outcome(event.dedup_key, incident, "Event processed")
