"""New ids for a tenant imported under a new slug: pure rules, no I/O.

Every id of the tenant's rows (the uuid columns of each primary key besides ``tenant_id``) and the
tenant's own id get new values, wherever they appear in the tenant's rows: in the primary keys, in the
foreign keys (which, between tenant-owned tables, always point at the same tenant's rows), in the
references the schema declares no foreign key for (an alert's incident, a delivery's incident) and inside
jsonb payloads (an event's data). A uuid that is no id of the tenant's (a provider's parent incident in
another tenant, a bulletin's broadcast shared by several tenants) is kept as it is.

The new id is derived from the old one and the new tenant's id (a name-based uuid), so no table from old
to new ids is kept: only the set of the tenant's ids, to tell them from the others.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from domain.tenant_data.catalog import TenantTable

_UUID_TEXT_LENGTH = 36


@dataclass
class IdRemap:
    old_tenant: uuid.UUID
    new_tenant: uuid.UUID
    own: set[uuid.UUID] = field(default_factory=set)

    def collect(self, table: TenantTable, row: dict[str, Any]) -> None:
        """Remember the ids of one of the tenant's rows (the first pass over the file)."""
        for column in table.id_columns:
            value = row.get(column)
            if value is not None:
                self.own.add(uuid.UUID(str(value)))

    def new_id(self, old: uuid.UUID) -> uuid.UUID:
        if old == self.old_tenant:
            return self.new_tenant
        return uuid.uuid5(self.new_tenant, str(old))

    def row(self, table: TenantTable, row: dict[str, Any]) -> dict[str, Any]:
        """The row with every id of the tenant's replaced; its other values as they are."""
        changed = dict(row)
        for column in table.columns:
            value = row.get(column.name)
            if value is None:
                continue
            if column.holds_ids or column.holds_json:
                changed[column.name] = self._value(value)
        return changed

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, list):
            return [self._value(v) for v in value]
        if isinstance(value, dict):
            return {k: self._value(v) for k, v in value.items()}
        return value

    def _text(self, value: str) -> str:
        if len(value) != _UUID_TEXT_LENGTH:
            return value
        try:
            old = uuid.UUID(value)
        except ValueError:
            return value
        if old == self.old_tenant or old in self.own:
            return str(self.new_id(old))
        return value
