"""Which incidents a reader asked for: the listing's filters and order, and lookups by id or number.

One definition serves both ways of reading: the executor's statements and the compiled reads (as a
``Listing``/``Selector`` of ``domain/reads/arguments.py``). Conditions carry named parameters, so a
compiled statement is built once per *shape* (which filters are set) and bound per request.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    String,
    Uuid,
    bindparam,
    false,
    func,
)
from sqlalchemy.sql.expression import any_

from domain.incidents.enums import IncidentStatus, Priority
from domain.reads.model import Alias, SortKey

# Incidents a reader may order by; the id breaks ties and makes the key unique.
ORDERS: dict[str, str] = {
    "REPORTED_AT": "reported_at",
    "UPDATED_AT": "updated_at",
    "PRIORITY": "priority",
    "NUMBER": "number",
}
NEWEST_FIRST = SortKey(("reported_at", "id"), descending=True)

MAX_SEARCH = 200


def sort_by(order: str, descending: bool) -> SortKey:
    return SortKey((ORDERS[order], "id"), descending=descending)


def search_document(i: Alias) -> ColumnElement[Any]:
    """The same expression as the migration's full-text index (ix_incidents_search), so it is used."""
    return func.to_tsvector("simple", func.coalesce(i.title, "") + " " + func.coalesce(i.description, ""))


def _any(slot: str, name: str, item: Any) -> Any:
    return any_(bindparam(f"{slot}_{name}", type_=ARRAY(item)))


@dataclass(frozen=True)
class IncidentQuery:
    """A listing of incidents. ``tenants``: where the reader may read incidents; ``staff_tenants``: where
    the reader has internal sight, so that a filter on an internal field is evaluated as the field reads
    to the reader (a customer filtering on the managers' flag finds what the flag reads to her: false)."""

    tenants: frozenset[uuid.UUID]
    staff_tenants: frozenset[uuid.UUID] = frozenset()
    statuses: tuple[IncidentStatus, ...] | None = None
    priorities: tuple[Priority, ...] | None = None
    service_id: uuid.UUID | None = None
    no_service: bool = False  # the reader named a service that cannot exist: nothing matches
    major: bool | None = None
    assignee: str | None = None
    sla_breached: bool | None = None
    escalated_to_managers: bool | None = None
    search: str | None = None
    reported_after: datetime | None = None
    reported_before: datetime | None = None
    sort: SortKey = NEWEST_FIRST

    def __post_init__(self) -> None:
        if self.search is not None:
            words = self.search.strip()[:MAX_SEARCH]
            object.__setattr__(self, "search", words or None)

    def _set(self) -> list[str]:
        skip = {"tenants", "staff_tenants", "sort", "no_service"}
        return [f.name for f in fields(self) if f.name not in skip and getattr(self, f.name) is not None]

    def shape(self) -> Hashable:
        return (tuple(self._set()), self.no_service, len(self.tenants) == 1)

    def binds(self, slot: str) -> dict[str, Any]:
        values: dict[str, Any] = {f"{slot}_tenants": sorted(self.tenants)}
        if len(self.tenants) == 1:
            values[f"{slot}_tenant"] = next(iter(self.tenants))
        for name in self._set():
            value = getattr(self, name)
            if name in ("statuses", "priorities"):
                value = [str(v) for v in value]
            values[f"{slot}_{name}"] = value
        if self.escalated_to_managers is not None:
            values[f"{slot}_staff_tenants"] = sorted(self.staff_tenants)
        return values

    def conditions(self, i: Alias, slot: str) -> list[ColumnElement[bool]]:
        def bound(name: str, kind: Any) -> Any:
            return bindparam(f"{slot}_{name}", type_=kind)

        # One tenant (a portal, a request narrowed by X-Tenant) is an equality, so the planner walks the
        # index of the listing's order within it; a list of tenants cannot give that order.
        if len(self.tenants) == 1:
            found: list[ColumnElement[bool]] = [i.tenant_id == bindparam(f"{slot}_tenant", type_=Uuid)]
        else:
            found = [i.tenant_id == _any(slot, "tenants", Uuid)]
        if self.no_service:
            found.append(false())
        for name in self._set():
            if name == "statuses":
                found.append(i.status == _any(slot, name, String))
            elif name == "priorities":
                found.append(i.priority == _any(slot, name, String))
            elif name == "service_id":
                found.append(i.service_id == bound(name, Uuid))
            elif name == "major":
                found.append(i.major == bound(name, Boolean))
            elif name == "assignee":
                found.append(i.assignee == bound(name, String))
            elif name == "sla_breached":
                found.append(i.sla_breached == bound(name, Boolean))
            elif name == "escalated_to_managers":
                # The flag as each row's reader reads it: false outside the reader's staff tenants.
                staff = i.tenant_id == _any(slot, "staff_tenants", Uuid)
                found.append((i.escalated_to_managers & staff) == bound(name, Boolean))
            elif name == "search":
                found.append(search_document(i).op("@@")(func.plainto_tsquery("simple", bound(name, String))))
            elif name == "reported_after":
                found.append(i.reported_at >= bound(name, DateTime(timezone=True)))
            elif name == "reported_before":
                found.append(i.reported_at < bound(name, DateTime(timezone=True)))
            else:  # pragma: no cover - a field added without its condition
                raise AssertionError(name)
        return found


@dataclass(frozen=True)
class IncidentById:
    tenants: frozenset[uuid.UUID]
    id: uuid.UUID

    def shape(self) -> Hashable:
        return "id"

    def binds(self, slot: str) -> dict[str, Any]:
        return {f"{slot}_tenants": sorted(self.tenants), f"{slot}_id": self.id}

    def conditions(self, i: Alias, slot: str) -> list[ColumnElement[bool]]:
        return [i.tenant_id == _any(slot, "tenants", Uuid), i.id == bindparam(f"{slot}_id", type_=Uuid)]


@dataclass(frozen=True)
class IncidentByNumber:
    tenant_id: uuid.UUID
    number: int

    def shape(self) -> Hashable:
        return "number"

    def binds(self, slot: str) -> dict[str, Any]:
        return {f"{slot}_tenant": self.tenant_id, f"{slot}_number": self.number}

    def conditions(self, i: Alias, slot: str) -> list[ColumnElement[bool]]:
        return [
            i.tenant_id == bindparam(f"{slot}_tenant", type_=Uuid),
            i.number == bindparam(f"{slot}_number", type_=BigInteger),
        ]
