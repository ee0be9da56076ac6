"""Customer and staff notifications by mail: members' addresses and preferences, and incident watchers.

A member's address and choices live beside the membership, not in it: a change to ``memberships``
tells every replica to drop its cached principals (0007), which a change of mail preferences must not.
Preferences default to on; a member without an address receives nothing.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0016"
down_revision: str | tuple[str, ...] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHOICES = ("public_updates", "resolution", "survey", "assignment", "sla_at_risk")


def upgrade() -> None:
    op.create_table(
        "notification_preferences",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        *(sa.Column(name, sa.Boolean(), server_default="true", nullable=False) for name in CHOICES),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "membership_id"],
            ["memberships.tenant_id", "memberships.id"],
            ondelete="CASCADE",
            name="fk_notification_preferences_membership",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "membership_id"),
    )
    enable_tenant_rls("notification_preferences")

    op.create_table(
        "incident_watchers",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("watched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "incident_id"],
            ["incidents.tenant_id", "incidents.id"],
            ondelete="CASCADE",
            name="fk_incident_watchers_incident",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "membership_id"],
            ["memberships.tenant_id", "memberships.id"],
            ondelete="CASCADE",
            name="fk_incident_watchers_membership",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "incident_id", "membership_id"),
    )
    op.create_index(
        "ix_incident_watchers_membership", "incident_watchers", ["tenant_id", "membership_id"], unique=False
    )
    enable_tenant_rls("incident_watchers")


def downgrade() -> None:
    disable_tenant_rls("incident_watchers")
    op.drop_index("ix_incident_watchers_membership", table_name="incident_watchers")
    op.drop_table("incident_watchers")
    disable_tenant_rls("notification_preferences")
    op.drop_table("notification_preferences")
