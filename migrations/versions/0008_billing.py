"""Billing: work entries a provider can bill (billable flag, when the work was done, the author's issuer)
and the tenant's billing months, which a MANAGER closes.

Existing entries are billable and were done when they were logged; their months are opened in the
tenant's timezone, so that the books of every month with work exist from the start.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("work_log", sa.Column("author_issuer", sa.String(length=500), nullable=True))
    op.add_column("work_log", sa.Column("billable", sa.Boolean(), server_default="true", nullable=False))
    op.add_column("work_log", sa.Column("worked_at", sa.DateTime(timezone=True), nullable=True))
    # Row-level security is forced on the owner too: lift it for the backfill of every tenant's rows.
    op.execute("ALTER TABLE work_log NO FORCE ROW LEVEL SECURITY")
    op.execute("UPDATE work_log SET worked_at = logged_at")
    op.alter_column("work_log", "worked_at", nullable=False)
    op.create_index("ix_work_log_worked", "work_log", ["tenant_id", "worked_at"], unique=False)

    op.create_table(
        "billing_periods",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=255), nullable=True),
        sa.CheckConstraint("EXTRACT(DAY FROM month) = 1", name="ck_billing_periods_first_day"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "month"),
    )
    op.execute(
        "INSERT INTO billing_periods (tenant_id, month)"
        " SELECT DISTINCT w.tenant_id, CAST(date_trunc('month', timezone(t.timezone, w.worked_at)) AS date)"
        " FROM work_log w JOIN tenants t ON t.id = w.tenant_id"
    )
    op.execute("ALTER TABLE work_log FORCE ROW LEVEL SECURITY")
    enable_tenant_rls("billing_periods")


def downgrade() -> None:
    disable_tenant_rls("billing_periods")
    op.drop_table("billing_periods")
    op.drop_index("ix_work_log_worked", table_name="work_log")
    op.drop_column("work_log", "worked_at")
    op.drop_column("work_log", "billable")
    op.drop_column("work_log", "author_issuer")
