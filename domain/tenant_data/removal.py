"""Delete: everything of one tenant, in one transaction, and nothing of any other."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text

from domain.db import Database, Scope, use_case
from domain.errors import not_found
from domain.tenant_data import links
from domain.tenant_data.catalog import TENANT_COLUMN, tenant_tables


@dataclass(frozen=True)
class Deleted:
    tenant_id: uuid.UUID
    slug: str
    # Rows deleted per table, ``tenants`` (1) last.
    counts: dict[str, int]
    # Providers' parent incidents, in other tenants, that stopped naming this tenant (see ``links``).
    parents_updated: int


@use_case
async def delete_tenant(db: Database, *, slug: str) -> Deleted:
    """Delete every row of the tenant ``slug``, table by table (each after the tables that refer to it),
    then the tenant. Counting per table is why this does not lean on ``ON DELETE CASCADE``. Other tenants'
    rows stay; a provider's parent incident only forgets this tenant in its list of affected tenants
    (see ``links``)."""
    async with db.transaction(Scope()) as session:
        tenant_id = await session.scalar(text("SELECT id FROM tenants WHERE slug = :slug"), {"slug": slug})
    if tenant_id is None:
        raise not_found("tenant", "slug")
    async with db.transaction(Scope.of([tenant_id])) as session:
        # The tenant's row locked first: a second delete, or an import under the same id, waits here.
        locked = await session.scalar(
            text("SELECT id FROM tenants WHERE id = :t AND slug = :slug FOR UPDATE"),
            {"t": tenant_id, "slug": slug},
        )
        if locked is None:
            raise not_found("tenant", "slug")
        parents_updated = await links.forget_tenant(session, tenant_id)
        counts: dict[str, int] = {}
        for table in reversed(await tenant_tables(session)):
            result = await session.execute(
                text(f"DELETE FROM {table.quoted} WHERE {TENANT_COLUMN} = :t"), {"t": tenant_id}
            )
            counts[table.name] = int(getattr(result, "rowcount", 0) or 0)
        await session.execute(text("DELETE FROM tenants WHERE id = :t"), {"t": tenant_id})
        counts["tenants"] = 1
    return Deleted(tenant_id=tenant_id, slug=slug, counts=counts, parents_updated=parents_updated)
