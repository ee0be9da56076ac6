"""SLA: contracts per tenant, each incident's clock ledger, and each incident's stored SLA outcome.

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-03 14:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_OWNED = ("sla_contracts", "incident_clock_history", "incident_sla")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def _priority() -> sa.Enum:
    return _enum("priority", "P1", "P2", "P3", "P4", "P5")


def _clock_state() -> sa.Enum:
    return _enum("clockstate", "RUNNING", "PAUSED", "MET", "BREACHED")


def _flag(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.Boolean(), server_default="false", nullable=False)


def upgrade() -> None:
    op.create_table(
        "sla_contracts",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("targets", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("business_hours", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("holidays", postgresql.ARRAY(sa.Date()), nullable=False),
        sa.Column("pause_on", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("at_risk_percent", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index(
        "ix_sla_contracts_effective", "sla_contracts", ["tenant_id", "effective_from"], unique=False
    )
    op.create_table(
        "incident_clock_history",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "kind",
            _enum(
                "historykind",
                "START",
                "RESPOND",
                "HOLD",
                "RESUME",
                "RESOLVE",
                "REOPEN",
                "CLOSE",
                "CANCEL",
                "PRIORITY",
            ),
            nullable=False,
        ),
        sa.Column("priority", _priority(), nullable=True),
        sa.Column(
            "hold_reason",
            _enum("holdreason", "AWAITING_CUSTOMER", "AWAITING_VENDOR", "AWAITING_CHANGE"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "incident_id"],
            ["incidents.tenant_id", "incidents.id"],
            name="fk_incident_clock_history_incident",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "incident_id", "id"),
    )
    op.create_table(
        "incident_sla",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=True),
        sa.Column("priority", _priority(), nullable=True),
        sa.Column("response_state", _clock_state(), nullable=True),
        sa.Column("response_target_minutes", sa.Integer(), nullable=True),
        sa.Column("response_elapsed_us", sa.BigInteger(), server_default="0", nullable=False),
        _flag("response_stopped"),
        _flag("response_cancelled"),
        _flag("response_breached"),
        sa.Column("resolution_state", _clock_state(), nullable=True),
        sa.Column("resolution_target_minutes", sa.Integer(), nullable=True),
        sa.Column("resolution_elapsed_us", sa.BigInteger(), server_default="0", nullable=False),
        _flag("resolution_stopped"),
        _flag("resolution_cancelled"),
        _flag("resolution_breached"),
        _flag("response_at_risk_noted"),
        _flag("response_breach_noted"),
        _flag("resolution_at_risk_noted"),
        _flag("resolution_breach_noted"),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["sla_contracts.tenant_id", "sla_contracts.id"],
            name="fk_incident_sla_contract",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "incident_id"],
            ["incidents.tenant_id", "incidents.id"],
            name="fk_incident_sla_incident",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "incident_id"),
    )
    op.create_index(
        "ix_incident_sla_due",
        "incident_sla",
        ["next_due_at"],
        unique=False,
        postgresql_where=sa.text("next_due_at IS NOT NULL"),
    )
    for table in TENANT_OWNED:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TENANT_OWNED):
        disable_tenant_rls(table)
    op.drop_index(
        "ix_incident_sla_due", table_name="incident_sla", postgresql_where=sa.text("next_due_at IS NOT NULL")
    )
    op.drop_table("incident_sla")
    op.drop_table("incident_clock_history")
    op.drop_index("ix_sla_contracts_effective", table_name="sla_contracts")
    op.drop_table("sla_contracts")
