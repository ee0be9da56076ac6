"""Subscribers of public status pages: an address per tenant, pending until confirmed, with the services
it follows (all of them, or the rows of ``status_subscriber_services``).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0017"
down_revision: str | tuple[str, ...] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "status_subscribers",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("all_services", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "email", name="uq_status_subscribers_email"),
    )
    enable_tenant_rls("status_subscribers")
    op.create_table(
        "status_subscriber_services",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("subscriber_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "subscriber_id"],
            ["status_subscribers.tenant_id", "status_subscribers.id"],
            ondelete="CASCADE",
            name="fk_status_subscriber_services_subscriber",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "service_id"],
            ["services.tenant_id", "services.id"],
            ondelete="CASCADE",
            name="fk_status_subscriber_services_service",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "subscriber_id", "service_id"),
    )
    op.create_index(
        "ix_status_subscriber_services_service", "status_subscriber_services", ["tenant_id", "service_id"]
    )
    enable_tenant_rls("status_subscriber_services")


def downgrade() -> None:
    disable_tenant_rls("status_subscriber_services")
    op.drop_table("status_subscriber_services")
    disable_tenant_rls("status_subscribers")
    op.drop_table("status_subscribers")
