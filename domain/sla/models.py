"""SLA tables: contracts, each incident's clock ledger, and each incident's stored SLA outcome.

All three are tenant-owned: ``tenant_id`` leads every primary key and every foreign key carries it.

- ``sla_contracts``: what a tenant agreed to (targets per priority, calendar, pause rules, at-risk
  percentage) over an effective window ``[effective_from, effective_to)``; windows of one tenant never
  overlap, so at most one contract governs an incident (the one in force at its ``reported_at``).
- ``incident_clock_history``: the ledger the clocks are computed from (START, RESPOND, HOLD, RESUME,
  RESOLVE, REOPEN, CLOSE, CANCEL, PRIORITY with their instants), kept apart from the contract, appended
  in the transaction of the change it records and never updated.
- ``incident_sla``: the clocks' outcome as last computed, so that reports aggregate in one statement;
  ``next_due_at`` is the earliest instant at which an alert not yet recorded falls due, which the
  scanner sleeps until. The ``*_noted`` flags make every alert happen once per clock.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    String,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.columns import TenantOwned, enum_column, timestamp, utcnow
from domain.db import Base
from domain.incidents.enums import HoldReason, Priority
from domain.sla.clock import ClockState, HistoryKind


class SlaContract(TenantOwned, Base):
    """A tenant's SLA contract.

    ``targets`` maps a priority to ``{"response": minutes, "resolution": minutes}``; ``business_hours``
    is a list of ``{"weekday": 1..7, "start": "HH:MM", "end": "HH:MM"}`` in local wall time of
    ``timezone`` (end "24:00" is midnight at the end of the day; empty means 24x7); ``holidays`` are
    local dates; ``pause_on`` the hold reasons that stop the clocks.
    """

    __tablename__ = "sla_contracts"
    __table_args__ = (Index("ix_sla_contracts_effective", "tenant_id", "effective_from"),)

    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    targets: Mapped[dict[str, Any]] = mapped_column(JSONB)
    business_hours: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    holidays: Mapped[list[date]] = mapped_column(ARRAY(Date))
    pause_on: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    at_risk_percent: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[datetime] = timestamp()
    effective_to: Mapped[datetime | None] = timestamp()
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = timestamp(default=utcnow)


class ClockHistoryEntry(Base):
    """One entry of an incident's clock ledger. ``id`` orders entries written at the same instant."""

    __tablename__ = "incident_clock_history"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "incident_id"],
            ["incidents.tenant_id", "incidents.id"],
            ondelete="CASCADE",
            name="fk_incident_clock_history_incident",
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    at: Mapped[datetime] = timestamp()
    kind: Mapped[HistoryKind] = enum_column(HistoryKind)
    priority: Mapped[Priority | None] = enum_column(Priority, nullable=True)
    hold_reason: Mapped[HoldReason | None] = enum_column(HoldReason, nullable=True)


class IncidentSla(Base):
    """The SLA outcome of one governed incident, as last computed (by its last change or the scanner)."""

    __tablename__ = "incident_sla"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "incident_id"],
            ["incidents.tenant_id", "incidents.id"],
            ondelete="CASCADE",
            name="fk_incident_sla_incident",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["sla_contracts.tenant_id", "sla_contracts.id"],
            ondelete="CASCADE",
            name="fk_incident_sla_contract",
        ),
        # The scanner's wake-up: the earliest due instant across tenants, and what is due by now.
        Index("ix_incident_sla_due", "next_due_at", postgresql_where=text("next_due_at IS NOT NULL")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    contract_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    priority: Mapped[Priority | None] = enum_column(Priority, nullable=True)
    response_state: Mapped[ClockState | None] = enum_column(ClockState, nullable=True)
    response_target_minutes: Mapped[int | None] = mapped_column(Integer)
    response_elapsed_us: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    response_stopped: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    response_cancelled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    response_breached: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    resolution_state: Mapped[ClockState | None] = enum_column(ClockState, nullable=True)
    resolution_target_minutes: Mapped[int | None] = mapped_column(Integer)
    resolution_elapsed_us: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    resolution_stopped: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    resolution_cancelled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    resolution_breached: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    response_at_risk_noted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    response_breach_noted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    resolution_at_risk_noted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    resolution_breach_noted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    next_due_at: Mapped[datetime | None] = timestamp()
    computed_at: Mapped[datetime | None] = timestamp()
