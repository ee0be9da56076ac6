"""The mail outbox: mails queued in the transaction of the change they tell of, sent by a worker.

A row is claimed for a while when its turn comes (``next_attempt_at`` moves past the claim), sent, and
marked sent; a failed attempt moves ``next_attempt_at`` by a growing backoff, and after the last attempt
the mail is given up (kept, with its last error, for the operator).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0013"
down_revision: str | tuple[str, ...] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outgoing_mails",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("headers", postgresql.JSONB(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("given_up", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index(
        "ix_outgoing_mails_due",
        "outgoing_mails",
        ["next_attempt_at"],
        postgresql_where=sa.text("sent_at IS NULL AND NOT given_up"),
    )
    enable_tenant_rls("outgoing_mails")


def downgrade() -> None:
    disable_tenant_rls("outgoing_mails")
    op.drop_table("outgoing_mails")
