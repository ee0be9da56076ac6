"""The export file: JSON lines, a header first, then one line per row, table after table.

    {"format": "incidentdesk-tenant", "version": 1, "schema_revision": ["0011"], "tenant": {...},
     "tables": ["services", ...], "counts": {"services": 12, ...}}
    {"table": "services", "row": {"tenant_id": "...", "id": "...", "name": "...", ...}}

Rows are PostgreSQL's own ``to_jsonb`` of the row and go back through ``jsonb_populate_recordset``, so
every type (timestamps to the microsecond, arrays, jsonb, sealed secrets as stored) comes back as it was
without a type mapping of our own. Counts let an import notice a file cut short.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.errors import invalid

FORMAT = "incidentdesk-tenant"
VERSION = 1

# (table, rows done so far, rows the table has): how an export or an import reports its progress, every
# few thousand rows and at the end of each table. Names and counts only, never a row's content.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Header:
    schema_revision: tuple[str, ...]
    # The ``tenants`` row, as ``to_jsonb`` wrote it.
    tenant: dict[str, Any]
    tables: tuple[str, ...]
    counts: dict[str, int]

    @property
    def tenant_id(self) -> uuid.UUID:
        return uuid.UUID(str(self.tenant["id"]))

    @property
    def slug(self) -> str:
        return str(self.tenant["slug"])

    def line(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "schema_revision": list(self.schema_revision),
                "tenant": self.tenant,
                "tables": list(self.tables),
                "counts": self.counts,
            }
        )

    @classmethod
    def parse(cls, line: str) -> Header:
        try:
            value = json.loads(line)
        except ValueError:
            raise invalid("is not a tenant export: its first line is not JSON", "file") from None
        if not isinstance(value, dict) or value.get("format") != FORMAT:
            raise invalid("is not a tenant export: its header names no tenant export", "file")
        if value.get("version") != VERSION:
            raise invalid(f"is a version {value.get('version')} export; this reads {VERSION}", "file")
        return cls(
            schema_revision=tuple(value["schema_revision"]),
            tenant=dict(value["tenant"]),
            tables=tuple(value["tables"]),
            counts={str(k): int(v) for k, v in value["counts"].items()},
        )


def row_line(table: str, row_json: str) -> str:
    """A row's line, its JSON text (from PostgreSQL) written as it came, never parsed here."""
    return f'{{"table": {json.dumps(table)}, "row": {row_json}}}'


@dataclass(frozen=True)
class RowLine:
    table: str
    row: dict[str, Any]


def parse_row(line: str, number: int) -> RowLine:
    try:
        value = json.loads(line)
        return RowLine(str(value["table"]), dict(value["row"]))
    except (ValueError, KeyError, TypeError):
        raise invalid(f"line {number} is not a row of a tenant export", "file") from None


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The file's non-blank lines with their numbers, read as they are needed (a tenant may not fit in
    memory). Blocking reads: the command line does nothing else meanwhile."""
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if line.strip():
                yield number, line
