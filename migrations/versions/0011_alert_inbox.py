"""Alerts are accepted durably first and processed after: the ``alerts`` inbox.

``POST /v2/enqueue`` answers once the alert is stored (one multi-row INSERT for every alert that arrived
meanwhile); a worker on every replica then applies them per tenant in order, many to a transaction. The
rows stay as the integration's alert log (what arrived, when, and what became of it) until pruned.

The intake looks up every routing key of a batch at once: ``app.routing_key`` now holds a comma-separated
list (the intake only ever asks for keys made of letters, digits, ``-`` and ``_``). It keeps the keys it
found, so integration keys now send access notices like the other tables behind a replica's caches
(migration 0007): a key revoked anywhere is refused everywhere from its commit on.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0011"
down_revision: str | tuple[str, ...] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key_lookup(using: str) -> None:
    op.execute("DROP POLICY IF EXISTS integration_key_lookup ON integration_keys")
    op.execute(f"CREATE POLICY integration_key_lookup ON integration_keys FOR SELECT USING ({using})")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("integration_key_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("dedup_key", sa.String(length=255), nullable=False),
        sa.Column("body", postgresql.JSONB(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "integration_key_id"],
            ["integration_keys.tenant_id", "integration_keys.id"],
            ondelete="CASCADE",
            name="fk_alerts_integration_key",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index(
        "ix_alerts_pending",
        "alerts",
        ["tenant_id", "position"],
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.create_index("ix_alerts_log", "alerts", ["tenant_id", "integration_key_id", "position"])
    op.create_index("ix_alerts_processed", "alerts", ["processed_at"])
    enable_tenant_rls("alerts")
    _key_lookup(
        "routing_key = ANY (string_to_array(NULLIF(current_setting('app.routing_key', true), ''), ','))"
    )
    op.execute(
        "CREATE TRIGGER access_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON integration_keys"
        " FOR EACH STATEMENT EXECUTE FUNCTION incidentdesk_notify_access()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS access_changed ON integration_keys")
    _key_lookup("routing_key = NULLIF(current_setting('app.routing_key', true), '')")
    disable_tenant_rls("alerts")
    op.drop_index("ix_alerts_processed", table_name="alerts")
    op.drop_index("ix_alerts_log", table_name="alerts")
    op.drop_index("ix_alerts_pending", table_name="alerts")
    op.drop_table("alerts")
