"""Import: a tenant's export written back, into a database that lacks it or under a new slug.

Same slug: every row comes back exactly as exported, ids and numbering included (the tenant must not
exist: delete it first, or import into an empty database). New slug: a new tenant whose rows are the
export's with new ids (``remap``); incident numbers, event sequences and counters are kept, so the
tenant's INC numbers read the same. Everything is one transaction: a refused or broken file writes
nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import Database, Scope, use_case
from domain.errors import invalid
from domain.migrate import applied_revisions
from domain.tenancy.service import is_slug
from domain.tenant_data import links
from domain.tenant_data.catalog import TenantTable, quote, tenant_tables
from domain.tenant_data.dump_format import Header, Progress, parse_row, read_lines
from domain.tenant_data.remap import IdRemap

# Rows written by one statement: few round trips, and a statement of bounded size.
BATCH = 500
PROGRESS_EVERY = 5000


@dataclass(frozen=True)
class Restored:
    tenant_id: uuid.UUID
    slug: str
    counts: dict[str, int]
    # Child links whose parent incident is not in the database (see ``links``).
    links_dropped: int = 0
    # Parent incidents that stopped naming affected tenants the database does not have.
    parents_trimmed: int = 0
    remapped: bool = field(default=False)


def read_header(path: Path) -> Header:
    for _, line in read_lines(path):
        return Header.parse(line)
    raise invalid("is empty", "file")


def _rows(path: Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(line number, table, row) of every row line, the header skipped."""
    lines = read_lines(path)
    next(lines, None)
    for number, line in lines:
        parsed = parse_row(line, number)
        yield number, parsed.table, parsed.row


@use_case
async def import_tenant(
    db: Database, *, path: Path, slug: str | None = None, progress: Progress | None = None
) -> Restored:
    """Write the export at ``path`` back as the tenant ``slug`` (by default the exported one's)."""
    header = read_header(path)
    target_slug = (slug or header.slug).strip().lower()
    if not is_slug(target_slug):
        raise invalid("use 1-63 lowercase letters, digits and inner hyphens", "slug")
    remap = None if target_slug == header.slug else IdRemap(header.tenant_id, uuid.uuid4())
    tenant_id = header.tenant_id if remap is None else remap.new_tenant

    async with db.transaction(Scope.of([tenant_id])) as session:
        tables = {t.name: t for t in await tenant_tables(session)}
        await _check_target(session, header, tables, target_slug, tenant_id)
        if remap is not None:
            # A first pass over the file: which uuids are the tenant's ids (see ``remap``).
            for number, table, row in _rows(path):
                remap.collect(_table(tables, table, number), row)
        tenant = dict(header.tenant, id=str(tenant_id), slug=target_slug)
        await session.execute(
            text(
                "INSERT INTO tenants SELECT * FROM jsonb_populate_record(NULL::tenants, CAST(:row AS jsonb))"
            ),
            {"row": json.dumps(tenant)},
        )
        writer = _Writer(session, header, tenant_id, remap, progress)
        for number, table, row in _rows(path):
            await writer.add(_table(tables, table, number), row)
        await writer.finish()
        _check_counts(header, writer.read)
        trimmed = await links.forget_missing_tenants(session, tenant_id)
    return Restored(
        tenant_id=tenant_id,
        slug=target_slug,
        counts=writer.written,
        links_dropped=writer.links_dropped,
        parents_trimmed=trimmed,
        remapped=remap is not None,
    )


async def _check_target(
    session: AsyncSession, header: Header, tables: dict[str, TenantTable], slug: str, tenant_id: uuid.UUID
) -> None:
    revisions = tuple(await applied_revisions(session))
    if tuple(sorted(header.schema_revision)) != revisions:
        raise invalid(
            f"was exported at schema revision {', '.join(header.schema_revision)} and the database is at"
            f" {', '.join(revisions)}: import into a database at the same revision",
            "file",
        )
    unknown = sorted(set(header.tables) - set(tables))
    if unknown:
        raise invalid(f"has tables this database lacks: {', '.join(unknown)}", "file")
    taken = await session.execute(
        text("SELECT slug FROM tenants WHERE slug = :slug OR id = :id"), {"slug": slug, "id": tenant_id}
    )
    for (existing,) in taken:
        raise invalid(
            f"tenant {existing!r} already holds this tenant's slug or id: delete it first, or import under"
            " a new slug",
            "slug",
        )


def _table(tables: dict[str, TenantTable], name: str, number: int) -> TenantTable:
    table = tables.get(name)
    if table is None:
        raise invalid(f"line {number} names table {name!r}, which is no tenant-owned table here", "file")
    return table


def _constraint(error: IntegrityError) -> str:
    """The violated constraint's name, as the driver reports it."""
    cause = getattr(error.orig, "__cause__", None)
    return str(getattr(cause, "constraint_name", None) or "a unique constraint")


def _check_counts(header: Header, read: dict[str, int]) -> None:
    for table, expected in header.counts.items():
        if read.get(table, 0) != expected:
            raise invalid(
                f"holds {read.get(table, 0)} rows of {table} where its header counts {expected}:"
                " the file is incomplete",
                "file",
            )


class _Writer:
    """Writes rows a batch at a time, table after table, in the file's order (the export's: each table
    after those it refers to)."""

    def __init__(
        self,
        session: AsyncSession,
        header: Header,
        tenant_id: uuid.UUID,
        remap: IdRemap | None,
        progress: Progress | None,
    ) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.header = header
        self.remap = remap
        self.progress = progress
        self.read: dict[str, int] = {}
        self.written: dict[str, int] = dict.fromkeys(header.tables, 0)
        self.links_dropped = 0
        self._table: TenantTable | None = None
        self._batch: list[dict[str, Any]] = []

    async def add(self, table: TenantTable, row: dict[str, Any]) -> None:
        if self._table is not None and table.name != self._table.name:
            await self.flush()
            self._report(self._table.name)
        self._table = table
        self.read[table.name] = self.read.get(table.name, 0) + 1
        self._batch.append(row if self.remap is None else self.remap.row(table, row))
        if len(self._batch) >= BATCH:
            await self.flush()

    async def finish(self) -> None:
        await self.flush()
        if self._table is not None:
            self._report(self._table.name)

    async def flush(self) -> None:
        table, rows = self._table, self._batch
        self._batch = []
        if table is None or not rows:
            return
        if table.name == links.LINKS_TABLE:
            admitted = await links.admit_links(self.session, rows)
            self.links_dropped += len(rows) - len(admitted)
            rows = admitted
        if rows:
            await self._insert(table, rows)
            if table.name == links.LINKS_TABLE:
                await links.relink_parents(self.session, rows, self.tenant_id)
        before = self.written.get(table.name, 0)
        self.written[table.name] = before + len(rows)
        if self.progress is not None and (before + len(rows)) // PROGRESS_EVERY > before // PROGRESS_EVERY:
            self._report(table.name)

    async def _insert(self, table: TenantTable, rows: list[dict[str, Any]]) -> None:
        columns = ", ".join(quote(c.name) for c in table.columns)
        try:
            await self.session.execute(
                text(
                    f"INSERT INTO {table.quoted} ({columns}) SELECT {columns}"
                    f" FROM jsonb_populate_recordset(NULL::{table.quoted}, CAST(:rows AS jsonb))"
                ),
                {"rows": json.dumps(rows)},
            )
        except IntegrityError as error:
            # A value unique across tenants (an OAuth client's id) that the database already holds: the
            # tenant is still here under another slug. The transaction is rolled back by the refusal.
            raise invalid(
                f"has rows of {table.name} that another tenant already holds"
                f" ({_constraint(error)}): delete that tenant first, or import into another database",
                "file",
            ) from None

    def _report(self, table: str) -> None:
        if self.progress is not None:
            self.progress(table, self.written.get(table, 0), self.header.counts.get(table, 0))
