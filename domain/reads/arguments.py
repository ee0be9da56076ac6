"""What a compiled read needs per request: its pages' windows, its listings' filters, its lookups' keys.

A slot's *shape* (which filters are set, which cursors are given, which sort, a page's size) decides the
statement's SQL; its values are bound as parameters. Statements are compiled once per shape and reused,
and PostgreSQL plans each once (a generic plan: page sizes are in the text, so it is as good as any).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import ColumnElement

from domain.reads.model import Alias, SortKey
from domain.reads.selection import Window


class Selector(Protocol):
    """Selects rows of an entity: the conditions, with parameters named after ``slot``."""

    def shape(self) -> Hashable: ...

    def conditions(self, row: Alias, slot: str) -> list[ColumnElement[bool]]: ...

    def binds(self, slot: str) -> dict[str, Any]: ...


class Listing(Selector, Protocol):
    """Selects the rows of a top-level listing, in ``sort`` order."""

    @property
    def sort(self) -> SortKey: ...


@dataclass
class Arguments:
    windows: dict[str, Window] = field(default_factory=dict)
    listings: dict[str, Listing] = field(default_factory=dict)
    lookups: dict[str, Selector] = field(default_factory=dict)

    def shape(self) -> Hashable:
        # Slots are filled in the same order for the same tree, so no sorting is needed.
        return (
            tuple((slot, window.shape) for slot, window in self.windows.items()),
            tuple((slot, (listing.shape(), listing.sort)) for slot, listing in self.listings.items()),
            tuple((slot, lookup.shape()) for slot, lookup in self.lookups.items()),
        )

    def binds(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for slot, window in self.windows.items():
            for name, key in (("after", window.after), ("before", window.before)):
                for index, value in enumerate(key or ()):
                    values[f"{slot}_{name}_{index}"] = value
        for slot, selector in [*self.listings.items(), *self.lookups.items()]:
            values.update(selector.binds(slot))
        return values
