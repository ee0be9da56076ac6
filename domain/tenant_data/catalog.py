"""The tenant-owned tables, read from PostgreSQL's catalog rather than listed by hand.

Every table of schema ``public`` with a ``tenant_id`` column is tenant-owned (``tenant_id`` first in its
primary key, by convention): a table a later migration adds is exported, imported and deleted without
touching this package. The reference tables (``tenants``, ``operators``, ``signing_keys``) have none.
A partitioned table counts once: its partitions' rows are read and written through it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

TENANT_COLUMN = "tenant_id"

_COLUMNS = text(
    """
    SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnum
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND EXISTS (
        SELECT 1 FROM pg_attribute t
        WHERE t.attrelid = c.oid AND t.attname = 'tenant_id' AND NOT t.attisdropped
      )
    ORDER BY c.relname, a.attnum
    """
)

_PRIMARY_KEYS = text(
    """
    SELECT c.relname, a.attname
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL unnest(k.conkey) WITH ORDINALITY AS key(attnum, position)
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = key.attnum
    WHERE n.nspname = 'public' AND k.contype = 'p'
    ORDER BY c.relname, key.position
    """
)

_FOREIGN_KEYS = text(
    """
    SELECT c.relname, r.relname
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_class r ON r.oid = k.confrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND k.contype = 'f'
    """
)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as PostgreSQL spells it: "uuid", "uuid[]", "jsonb", "character varying(32)"...

    @property
    def holds_ids(self) -> bool:
        """Whether the column holds uuids (one or an array), which may be ids of the tenant's rows."""
        return self.type in ("uuid", "uuid[]")

    @property
    def holds_json(self) -> bool:
        return self.type in ("json", "jsonb")


@dataclass(frozen=True)
class TenantTable:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    # The tenant-owned tables this one's foreign keys point at (not ``tenants``).
    refers_to: frozenset[str]

    @property
    def id_columns(self) -> tuple[str, ...]:
        """The primary key's uuid columns besides ``tenant_id``: the ids of the tenant's rows, which a
        new tenant gives new values."""
        types = {c.name: c.type for c in self.columns}
        return tuple(c for c in self.primary_key if c != TENANT_COLUMN and types[c] == "uuid")

    @property
    def quoted(self) -> str:
        return quote(self.name)


def quote(identifier: str) -> str:
    """An identifier from the catalog, quoted for a statement's text."""
    return '"' + identifier.replace('"', '""') + '"'


async def tenant_tables(session: AsyncSession) -> list[TenantTable]:
    """Every tenant-owned table, each after the tables its foreign keys point at (insert in this order,
    delete in the reverse)."""
    columns: dict[str, list[Column]] = defaultdict(list)
    for table, name, type_, _ in await session.execute(_COLUMNS):
        columns[table].append(Column(name, type_))
    keys: dict[str, list[str]] = defaultdict(list)
    for table, name in await session.execute(_PRIMARY_KEYS):
        keys[table].append(name)
    refers: dict[str, set[str]] = defaultdict(set)
    for table, target in await session.execute(_FOREIGN_KEYS):
        if table in columns and target in columns and target != table:
            refers[table].add(target)
    tables = {
        name: TenantTable(name, tuple(cols), tuple(keys[name]), frozenset(refers[name]))
        for name, cols in columns.items()
    }
    return _referenced_first(tables)


def _referenced_first(tables: dict[str, TenantTable]) -> list[TenantTable]:
    """Tables ordered so that every table comes after those it refers to; by name among equals, so that
    an export is the same file twice."""
    ordered: list[TenantTable] = []
    placed: set[str] = set()
    while len(placed) < len(tables):
        ready = sorted(n for n, t in tables.items() if n not in placed and t.refers_to <= placed)
        if not ready:
            stuck = sorted(set(tables) - placed)
            raise RuntimeError(f"foreign keys form a cycle among {', '.join(stuck)}")
        for name in ready:
            ordered.append(tables[name])
            placed.add(name)
    return ordered
