"""Services get a slug: a public status page embed follows chosen services by it.

The slug is made from the name (ASCII letters and digits, words joined by ``-``), unique within the
tenant: a name whose slug is taken gets ``-2``, ``-3``... Services that exist get theirs here, oldest
first.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | tuple[str, ...] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _slug(name: str) -> str:
    # The rule of domain.catalog.slugs at the time of this migration, kept here so it never drifts.
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-") or "service"


def upgrade() -> None:
    op.add_column("services", sa.Column("slug", sa.String(80), nullable=True))
    # Every tenant's services, whatever the session's tenant scope: row-level security is lifted for the
    # owner for the length of the backfill only.
    op.execute("ALTER TABLE services NO FORCE ROW LEVEL SECURITY")
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT tenant_id, id, name FROM services ORDER BY created_at, id"))
    taken: set[tuple[object, str]] = set()
    for tenant_id, service_id, name in rows.fetchall():
        base = _slug(name)
        slug, n = base, 1
        while (tenant_id, slug) in taken:
            n += 1
            slug = f"{base}-{n}"
        taken.add((tenant_id, slug))
        connection.execute(
            sa.text("UPDATE services SET slug = :slug WHERE tenant_id = :t AND id = :id"),
            {"slug": slug, "t": tenant_id, "id": service_id},
        )
    op.execute("ALTER TABLE services FORCE ROW LEVEL SECURITY")
    op.alter_column("services", "slug", nullable=False)
    op.create_unique_constraint("uq_services_tenant_slug", "services", ["tenant_id", "slug"])


def downgrade() -> None:
    op.drop_constraint("uq_services_tenant_slug", "services", type_="unique")
    op.drop_column("services", "slug")
