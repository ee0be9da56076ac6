"""Row-level security statements for migrations: Alembic does not autogenerate policies or roles."""

from __future__ import annotations

from alembic import op

# Admits the rows whose tenant is in the transaction-local scope (incidentdesk_tenant_ids(), migration
# 0001). As a scalar subquery the scope is an InitPlan: read and parsed once per statement, not again at
# every index scan of a nested loop (a page's 100 lookups of services and events paid it each time).
TENANT_IDS = "(SELECT incidentdesk_tenant_ids())::uuid[]"


def enable_tenant_rls(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table}"
        f" USING (tenant_id = ANY ({TENANT_IDS})) WITH CHECK (tenant_id = ANY ({TENANT_IDS}))"
    )


def disable_tenant_rls(table: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
