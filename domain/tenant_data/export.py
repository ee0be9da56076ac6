"""Export: every row of one tenant, streamed as JSON lines from one snapshot."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from sqlalchemy import text

from domain.db import Database, Scope
from domain.errors import not_found
from domain.migrate import applied_revisions
from domain.tenant_data.catalog import TENANT_COLUMN, quote, tenant_tables
from domain.tenant_data.dump_format import Header, Progress, row_line

PROGRESS_EVERY = 5000
# Rows fetched from the server-side cursor at a time: the tenant is never in memory whole.
FETCH = 1000

_TENANT = text("SELECT id, to_jsonb(t)::text FROM tenants AS t WHERE slug = :slug")


async def export_tenant(db: Database, *, slug: str, progress: Progress | None = None) -> AsyncIterator[str]:
    """The export's lines (without line ends): the header, then every row of every tenant-owned table
    of the tenant ``slug``. One REPEATABLE READ transaction: the counts and the rows are one snapshot,
    however long the writing takes. Secrets go out sealed, as stored."""
    async with db.transaction(Scope()) as session:
        found = (await session.execute(_TENANT, {"slug": slug})).first()
    if found is None:
        raise not_found("tenant", "slug")
    tenant_id = found[0]
    async with db.transaction(Scope.of([tenant_id]), isolation_level="REPEATABLE READ") as session:
        tenant_row = (await session.execute(_TENANT, {"slug": slug})).first()
        if tenant_row is None or tenant_row[0] != tenant_id:
            raise not_found("tenant", "slug")
        tables = await tenant_tables(session)
        counts: dict[str, int] = {}
        for table in tables:
            statement = text(f"SELECT count(*) FROM {table.quoted} WHERE {TENANT_COLUMN} = :t")
            counts[table.name] = int((await session.execute(statement, {"t": tenant_id})).scalar_one())
        yield Header(
            schema_revision=tuple(await applied_revisions(session)),
            tenant=json.loads(tenant_row[1]),
            tables=tuple(t.name for t in tables),
            counts=counts,
        ).line()
        for table in tables:
            order = ", ".join(quote(c) for c in table.primary_key)
            statement = text(
                f"SELECT to_jsonb(r)::text FROM {table.quoted} AS r"
                f" WHERE {TENANT_COLUMN} = :t ORDER BY {order}"
            ).execution_options(yield_per=FETCH)
            written = 0
            rows = await session.stream(statement, {"t": tenant_id})
            async for (row_json,) in rows:
                yield row_line(table.name, row_json)
                written += 1
                if progress is not None and written % PROGRESS_EVERY == 0:
                    progress(table.name, written, counts[table.name])
            if progress is not None:
                progress(table.name, written, counts[table.name])
