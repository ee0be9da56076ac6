"""The whole incident practice: incident models, reviews with action items, escalation and cancellation
columns, the model applied to an incident, and the tenants a provider's incident was fanned out to.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:12:31.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_OWNED = ("incident_models", "incident_reviews", "review_action_items")


def _level(name: str) -> sa.Enum:
    return sa.Enum("HIGH", "MEDIUM", "LOW", name=name, native_enum=False, length=32)


def upgrade() -> None:
    op.create_table(
        "incident_models",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("match_category", sa.String(length=100), nullable=True),
        sa.Column("match_service_id", sa.Uuid(), nullable=True),
        sa.Column("match_keywords", postgresql.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("impact", _level("impact"), nullable=True),
        sa.Column("urgency", _level("urgency"), nullable=True),
        sa.Column("assignment_group", sa.String(length=200), nullable=True),
        sa.Column("workaround", sa.Text(), nullable=True),
        sa.Column("tasks", postgresql.ARRAY(sa.String(length=300)), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "match_service_id"],
            ["services.tenant_id", "services.id"],
            name="fk_incident_models_service",
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_incident_models_name"),
    )
    op.create_index(
        "ix_incident_models_created", "incident_models", ["tenant_id", "created_at", "id"], unique=False
    )
    op.create_table(
        "incident_reviews",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("root_cause", sa.Text(), nullable=True),
        sa.Column("what_went_well", sa.Text(), nullable=True),
        sa.Column("what_went_wrong", sa.Text(), nullable=True),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("published_by", sa.String(length=255), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "incident_id"],
            ["incidents.tenant_id", "incidents.id"],
            name="fk_incident_reviews_incident",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "incident_id", name="uq_incident_reviews_incident"),
    )
    op.create_table(
        "review_action_items",
        sa.Column("review_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("problem_ref", sa.String(length=100), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "review_id"],
            ["incident_reviews.tenant_id", "incident_reviews.id"],
            name="fk_review_action_items_review",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index(
        "ix_review_action_items_review",
        "review_action_items",
        ["tenant_id", "review_id", "position"],
        unique=False,
    )
    op.add_column("incidents", sa.Column("model_id", sa.Uuid(), nullable=True))
    op.add_column("incidents", sa.Column("vendor", sa.String(length=200), nullable=True))
    op.add_column("incidents", sa.Column("vendor_ticket", sa.String(length=200), nullable=True))
    op.add_column(
        "incidents",
        sa.Column("escalated_to_managers", sa.Boolean(), server_default="false", nullable=False),
    )
    op.add_column("incidents", sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("incidents", sa.Column("cancel_reason", sa.Text(), nullable=True))
    op.add_column(
        "incidents",
        sa.Column("affected_tenant_ids", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
    )
    op.create_foreign_key(
        "fk_incidents_model",
        "incidents",
        "incident_models",
        ["tenant_id", "model_id"],
        ["tenant_id", "id"],
    )
    op.create_index("ix_incidents_auto_close", "incidents", ["status", "resolved_at"], unique=False)
    for table in TENANT_OWNED:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_OWNED:
        disable_tenant_rls(table)
    op.drop_index("ix_incidents_auto_close", table_name="incidents")
    op.drop_constraint("fk_incidents_model", "incidents", type_="foreignkey")
    for column in (
        "affected_tenant_ids",
        "cancel_reason",
        "escalated_at",
        "escalated_to_managers",
        "vendor_ticket",
        "vendor",
        "model_id",
    ):
        op.drop_column("incidents", column)
    op.drop_index("ix_review_action_items_review", table_name="review_action_items")
    op.drop_table("review_action_items")
    op.drop_table("incident_reviews")
    op.drop_index("ix_incident_models_created", table_name="incident_models")
    op.drop_table("incident_models")
