"""Shared by the SLA database and API tests: contract inputs, ledger reads, and moving time back.

Time cannot be waited for in a test, so a test that needs an incident reported hours ago reports it for
real and then moves its instants back through the owner connection (``backdate``): the incident's
timestamps, its ledger and its stored outcome all shift by the same amount, as if it had happened then.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from domain.db import Database
from domain.incidents.enums import HoldReason, Priority
from domain.sla import service as sla_service
from domain.sla.models import SlaContract
from domain.tenancy.actor import Actor

# Targets (response / resolution minutes) used unless a test says otherwise.
TARGETS = {
    Priority.P1: (30, 240),
    Priority.P2: (60, 480),
    Priority.P3: (240, 1440),
    Priority.P4: (480, 2400),
    Priority.P5: (960, 4800),
}

CONTRACT_FIELDS = """
id name timezone atRiskPercent effectiveFrom effectiveTo holidays pauseOn
targets { priority responseMinutes resolutionMinutes }
businessHours { weekday start end }
tenant { slug }
"""

CLOCK_FIELDS = (
    "targetMinutes elapsedMinutes remainingMinutes dueAt state atRisk breached priority stopped cancelled"
)


def contract_input(**overrides: Any) -> dict[str, Any]:
    """A valid createSlaContract input (24x7 UTC, every priority, pausing for the customer)."""
    value: dict[str, Any] = {
        "name": "Standard",
        "timezone": "UTC",
        "targets": [
            {"priority": p.value, "responseMinutes": r, "resolutionMinutes": s}
            for p, (r, s) in TARGETS.items()
        ],
        "pauseOn": ["AWAITING_CUSTOMER"],
        "effectiveFrom": "2020-01-01T00:00:00Z",
    }
    value.update(overrides)
    return value


async def create_contract(
    db: Database,
    manager: Actor,
    tenant_id: uuid.UUID,
    *,
    effective_from: datetime,
    effective_to: datetime | None = None,
    timezone: str = "UTC",
    hours: list[tuple[int, str, str]] | None = None,
    holidays: list[str] | None = None,
    pause_on: tuple[HoldReason, ...] = (HoldReason.AWAITING_CUSTOMER,),
    at_risk_percent: int = 75,
    targets: dict[Priority, tuple[int, int]] | None = None,
    name: str = "Standard",
) -> SlaContract:
    return await sla_service.create_contract(
        db,
        manager,
        sla_service.NewContract(
            tenant_id=tenant_id,
            name=name,
            targets=[sla_service.TargetInput(p, r, s) for p, (r, s) in (targets or TARGETS).items()],
            timezone=timezone,
            effective_from=effective_from,
            effective_to=effective_to,
            business_hours=[sla_service.HoursInput(d, a, b) for d, a, b in hours or []],
            holidays=holidays or [],
            pause_on=pause_on,
            at_risk_percent=at_risk_percent,
        ),
    )


def ledger(engine: Engine, incident_id: uuid.UUID) -> list[tuple[str, str | None, str | None]]:
    """The incident's ledger as (kind, priority, hold reason), in recording order."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT kind, priority, hold_reason FROM incident_clock_history"
                " WHERE incident_id = :i ORDER BY at, id"
            ),
            {"i": incident_id},
        )
        return [(r[0], r[1], r[2]) for r in rows]


def outcome(engine: Engine, incident_id: uuid.UUID) -> dict[str, Any] | None:
    with engine.connect() as connection:
        row = (
            connection.execute(text("SELECT * FROM incident_sla WHERE incident_id = :i"), {"i": incident_id})
            .mappings()
            .first()
        )
        return dict(row) if row else None


def events_of(engine: Engine, incident_id: uuid.UUID, *kinds: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT kind, visibility, actor, message, data, at FROM incident_events"
                " WHERE incident_id = :i AND kind = ANY(:k) ORDER BY seq"
            ),
            {"i": incident_id, "k": list(kinds)},
        ).mappings()
        return [dict(r) for r in rows]


def backdate(engine: Engine, incident_id: uuid.UUID, by: timedelta) -> None:
    """Move every instant of the incident (its row, ledger, events and stored outcome) back by ``by``."""
    statements = [
        "UPDATE incidents SET reported_at = reported_at - :d, updated_at = updated_at - :d,"
        " responded_at = responded_at - :d, resolved_at = resolved_at - :d, closed_at = closed_at - :d"
        " WHERE id = :i",
        "UPDATE incident_clock_history SET at = at - :d WHERE incident_id = :i",
        "UPDATE incident_events SET at = at - :d WHERE incident_id = :i",
        "UPDATE incident_sla SET next_due_at = next_due_at - :d, computed_at = computed_at - :d"
        " WHERE incident_id = :i",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), {"d": by, "i": incident_id})
