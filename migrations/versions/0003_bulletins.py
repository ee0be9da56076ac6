"""Bulletins: bulletins, their updates and affected services, derived service statuses, the bulletin outbox.

Every table is tenant-owned, keyed by ``(tenant_id, ...)``, and under row-level security.
``bulletin_events.seq`` comes from the tenant's ``tenant_counters.last_event_seq``, the counter that
numbers ``incident_events`` too: one per-tenant sequence orders every live event in commit order.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-27 10:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("INCIDENT", "MAINTENANCE", "INFORMATION")
PHASES = ("INVESTIGATING", "IDENTIFIED", "MONITORING", "RESOLVED", "SCHEDULED", "IN_PROGRESS", "COMPLETED")
STATUSES = ("OPERATIONAL", "DEGRADED_PERFORMANCE", "PARTIAL_OUTAGE", "MAJOR_OUTAGE", "UNDER_MAINTENANCE")
EVENT_KINDS = ("BULLETIN_CHANGED", "SERVICE_STATUS_CHANGED")

TABLES = ("bulletins", "bulletin_updates", "bulletin_services", "service_statuses", "bulletin_events")


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def _tenant_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE")


def _bulletin_fk(name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "bulletin_id"], ["bulletins.tenant_id", "bulletins.id"], name=name, ondelete="CASCADE"
    )


def _service_fk(name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "service_id"], ["services.tenant_id", "services.id"], name=name, ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "bulletins",
        sa.Column("broadcast_id", sa.Uuid(), nullable=False),
        sa.Column("kind", _enum(KINDS, "bulletinkind"), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("phase", _enum(PHASES, "bulletinphase"), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.Column("scheduled_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scheduled_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "incident_id"],
            ["incidents.tenant_id", "incidents.id"],
            name="fk_bulletins_incident",
        ),
        _tenant_fk(),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index("ix_bulletins_created", "bulletins", ["tenant_id", "created_at", "id"], unique=False)
    op.create_index("ix_bulletins_broadcast", "bulletins", ["tenant_id", "broadcast_id"], unique=False)
    op.create_index("ix_bulletins_kind_phase", "bulletins", ["kind", "phase"], unique=False)
    op.create_table(
        "bulletin_updates",
        sa.Column("bulletin_id", sa.Uuid(), nullable=False),
        sa.Column("phase", _enum(PHASES, "bulletinphase"), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        _bulletin_fk("fk_bulletin_updates_bulletin"),
        _tenant_fk(),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index(
        "ix_bulletin_updates_bulletin", "bulletin_updates", ["tenant_id", "bulletin_id", "at"], unique=False
    )
    op.create_table(
        "bulletin_services",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("bulletin_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("status", _enum(STATUSES, "servicestatus"), nullable=False),
        _bulletin_fk("fk_bulletin_services_bulletin"),
        _service_fk("fk_bulletin_services_service"),
        sa.PrimaryKeyConstraint("tenant_id", "bulletin_id", "service_id"),
    )
    op.create_index(
        "ix_bulletin_services_service", "bulletin_services", ["tenant_id", "service_id"], unique=False
    )
    op.create_table(
        "service_statuses",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("status", _enum(STATUSES, "servicestatus"), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        _service_fk("fk_service_statuses_service"),
        sa.PrimaryKeyConstraint("tenant_id", "service_id"),
    )
    op.create_table(
        "bulletin_events",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", _enum(EVENT_KINDS, "bulletineventkind"), nullable=False),
        sa.Column("bulletin_id", sa.Uuid(), nullable=True),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("status", _enum(STATUSES, "servicestatus"), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        _bulletin_fk("fk_bulletin_events_bulletin"),
        _service_fk("fk_bulletin_events_service"),
        _tenant_fk(),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "seq", name="uq_bulletin_events_seq"),
    )
    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(table)
    op.drop_table("bulletin_events")
    op.drop_table("service_statuses")
    op.drop_index("ix_bulletin_services_service", table_name="bulletin_services")
    op.drop_table("bulletin_services")
    op.drop_index("ix_bulletin_updates_bulletin", table_name="bulletin_updates")
    op.drop_table("bulletin_updates")
    op.drop_index("ix_bulletins_kind_phase", table_name="bulletins")
    op.drop_index("ix_bulletins_broadcast", table_name="bulletins")
    op.drop_index("ix_bulletins_created", table_name="bulletins")
    op.drop_table("bulletins")
