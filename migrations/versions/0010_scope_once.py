"""Row-level security reads the tenant scope once per statement: the policies' scope as an InitPlan.

``tenant_id = ANY (incidentdesk_tenant_ids())`` was inlined into every scan, so each index scan of a
nested loop parsed the scope setting into a uuid array again: a fifth of PostgreSQL's time for a page of
incidents with their services and timelines. ``ANY ((SELECT incidentdesk_tenant_ids())::uuid[])``
computes it once per statement (an InitPlan) and admits exactly the same rows.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

from migrations.rls import TENANT_IDS

revision: str = "0010"
down_revision: str | tuple[str, ...] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PER_SCAN = "incidentdesk_tenant_ids()"


def _tables() -> list[str]:
    rows = op.get_bind().exec_driver_sql(
        "SELECT tablename FROM pg_policies"
        " WHERE schemaname = current_schema() AND policyname = 'tenant_isolation' ORDER BY tablename"
    )
    return [row[0] for row in rows]


def _scope_policies(scope: str) -> None:
    for table in _tables():
        op.execute(
            f"ALTER POLICY tenant_isolation ON {table}"
            f" USING (tenant_id = ANY ({scope})) WITH CHECK (tenant_id = ANY ({scope}))"
        )


def upgrade() -> None:
    _scope_policies(TENANT_IDS)


def downgrade() -> None:
    _scope_policies(_PER_SCAN)
