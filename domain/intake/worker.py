"""The alert worker: applies accepted alerts, per tenant in the order they were accepted, many to a
transaction.

Every replica runs one. A round finds the tenants with pending alerts and, for each, takes the tenant's
intake lane (a transaction-level advisory lock, tried without waiting: a tenant another replica is working
on is skipped) and applies up to ``batch`` of its oldest pending alerts in that one transaction, marking
each with its outcome. The transaction commits the incidents, their timeline events and the alert log
together, so an alert is applied exactly once.

If the batch fails for anything but a lost database, its alerts are applied again one per transaction, so
that one alert that cannot be applied (recorded as such, with the error logged) never holds back the
others. The worker is woken by the intake after every store, and looks anyway every ``poll_seconds`` for
alerts another replica accepted but could not apply.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.background import RoundWorker
from domain.columns import utcnow
from domain.db import Database, Scope, is_unavailable, retrying
from domain.intake.alerts import parse_event
from domain.intake.models import Alert, IntegrationKey
from domain.intake.service import OpenIncidents, apply

log = logging.getLogger(__name__)

# Names the lane lock apart from the other advisory locks (the SLA scanner's).
_LANE = "incidentdesk:intake:"
# A clash on the open-alert index can only come from a person reopening an incident that held the key at
# the same moment; the next try finds that incident and counts the alert on it.
_OPEN_ALERT_INDEX = "uq_incidents_open_alert"
FAILED = "Event could not be applied"


class AlertWorker(RoundWorker):
    name = "alert-worker"

    def __init__(
        self,
        db: Database,
        *,
        batch: int = 200,
        poll_seconds: float = 1.0,
        retention: timedelta = timedelta(days=7),
        prune_every_seconds: float = 600.0,
    ) -> None:
        super().__init__()
        self.db = db
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.retention = retention
        self.prune_every_seconds = prune_every_seconds
        self._pruned_at = time.monotonic()

    async def round(self) -> float | None:
        if await self.run_once():
            return None
        if time.monotonic() - self._pruned_at > self.prune_every_seconds:
            await self._prune_quietly()
        return self.poll_seconds

    async def run_once(self) -> int:
        """One round: each tenant with pending alerts gets one batch. How many alerts were applied."""
        applied = 0
        for tenant_id in await self.pending_tenants():
            applied += await self.apply_pending(tenant_id)
        return applied

    async def pending_tenants(self) -> list[uuid.UUID]:
        tenants = await self.db.all_tenant_ids()
        if not tenants:
            return []
        async with self.db.transaction(Scope.of(tenants)) as session:
            rows = await session.scalars(
                select(Alert.tenant_id).where(Alert.processed_at.is_(None)).group_by(Alert.tenant_id)
            )
            return list(rows)

    async def apply_pending(self, tenant_id: uuid.UUID) -> int:
        """Apply up to ``batch`` of the tenant's oldest pending alerts in one transaction; one by one when
        that fails. How many were applied (0 when another replica holds the tenant's lane)."""
        try:
            return await retrying(lambda: self._apply_batch(tenant_id))
        except Exception as error:
            if is_unavailable(error):
                raise
            log.warning("applying alerts of tenant %s together failed (%s); one by one", tenant_id, error)
        return await self._apply_one_by_one(tenant_id)

    async def _apply_batch(self, tenant_id: uuid.UUID) -> int:
        async with self.db.transaction(Scope.of([tenant_id])) as session:
            if not await _take_lane(session, tenant_id):
                return 0
            pending = await _pending(session, tenant_id, self.batch)
            open_incidents = OpenIncidents()
            for alert, key in pending:
                await _apply_alert(session, alert, key, open_incidents)
            return len(pending)

    async def _apply_one_by_one(self, tenant_id: uuid.UUID) -> int:
        async with self.db.transaction(Scope.of([tenant_id])) as session:
            ids = [alert.id for alert, _ in await _pending(session, tenant_id, self.batch)]
        for alert_id in ids:
            try:
                await retrying(functools.partial(self._apply_alone, tenant_id, alert_id))
            except Exception as error:
                if is_unavailable(error):
                    raise
                log.exception("alert %s of tenant %s could not be applied", alert_id, tenant_id)
                await self._record_failure(tenant_id, alert_id, error)
        return len(ids)

    async def _apply_alone(self, tenant_id: uuid.UUID, alert_id: uuid.UUID) -> None:
        for attempt in (1, 2, 3):
            try:
                async with self.db.transaction(Scope.of([tenant_id])) as session:
                    if not await _take_lane(session, tenant_id, wait=True):
                        return
                    found = await _pending(session, tenant_id, 1, alert_id=alert_id)
                    for alert, key in found:
                        await _apply_alert(session, alert, key, OpenIncidents())
                return
            except IntegrityError as error:
                if _OPEN_ALERT_INDEX not in str(error.orig) or attempt == 3:
                    raise

    async def _record_failure(self, tenant_id: uuid.UUID, alert_id: uuid.UUID, error: Exception) -> None:
        async with self.db.transaction(Scope.of([tenant_id])) as session:
            alert = await session.get(Alert, (tenant_id, alert_id), with_for_update=True)
            if alert is not None and alert.processed_at is None:
                alert.processed_at = utcnow()
                alert.outcome = f"{FAILED} ({type(error).__name__})"

    async def _prune_quietly(self) -> None:
        self._pruned_at = time.monotonic()
        try:
            removed = await self.prune()
            if removed:
                log.info("pruned %d alerts older than %s", removed, self.retention)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pruning the alert log failed")

    async def prune(self) -> int:
        """Forget applied alerts older than the retention; pending ones are never pruned."""
        tenants = await self.db.all_tenant_ids()
        if not tenants:
            return 0
        async with self.db.transaction(Scope.of(tenants)) as session:
            result = await session.execute(
                delete(Alert).where(Alert.processed_at < utcnow() - self.retention)
            )
            return int(getattr(result, "rowcount", 0) or 0)


async def _take_lane(session: AsyncSession, tenant_id: uuid.UUID, *, wait: bool = False) -> bool:
    """The tenant's intake lane until the transaction ends: one replica applies a tenant's alerts at a
    time, so they are applied in the order they were accepted."""
    name = func.hashtextextended(f"{_LANE}{tenant_id}", 0)
    if wait:
        await session.execute(select(func.pg_advisory_xact_lock(name)))
        return True
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(name))))


async def _pending(
    session: AsyncSession, tenant_id: uuid.UUID, limit: int, *, alert_id: uuid.UUID | None = None
) -> list[tuple[Alert, IntegrationKey]]:
    statement = (
        select(Alert, IntegrationKey)
        .join(
            IntegrationKey,
            (IntegrationKey.tenant_id == Alert.tenant_id) & (IntegrationKey.id == Alert.integration_key_id),
        )
        .where(Alert.tenant_id == tenant_id, Alert.processed_at.is_(None))
        .order_by(Alert.position)
        .limit(limit)
        .with_for_update(of=Alert)
    )
    if alert_id is not None:
        statement = statement.where(Alert.id == alert_id)
    return [(alert, key) for alert, key in (await session.execute(statement)).all()]


async def _apply_alert(
    session: AsyncSession, alert: Alert, key: IntegrationKey, open_incidents: OpenIncidents
) -> None:
    # The body was valid when accepted and is read by the same rules.
    event = parse_event({**alert.body, "routing_key": key.routing_key})
    outcome = await apply(
        session,
        key=key,
        event=event,
        dedup_key=alert.dedup_key,
        received_at=alert.received_at,
        open_incidents=open_incidents,
    )
    alert.processed_at = utcnow()
    alert.outcome = outcome.message
    alert.incident_id = outcome.incident.id if outcome.incident is not None else None
