"""The read model: what clients read of each entity, declared once.

An ``Entity`` names its table (a mapped model), the values clients read of it (``Attribute``: a column or
an expression over its columns), objects embedded in its row (``Embedded``: an incident's resolution),
and its relations to other entities (``Relation``: to one, to many, or a paginated connection).

Whatever reads an entity reads it through this declaration: the GraphQL types' ``from_row`` (a loaded
row, in Python), the batch loaders (relations and their visibility), and the read compiler (SQL that
builds the response JSON inside PostgreSQL). A derived value is declared with both of its forms, SQL and
Python, side by side, and the differential test of the compiler holds them equal.

Visibility is part of the declaration: an ``internal`` attribute or relation reads as ``Hidden`` to a
viewer without internal sight (a CUSTOMER member), and an entity's ``public_rows`` admits the rows such a
viewer may see at all (``domain/visibility.py`` says who has which sight).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement

from domain.visibility import Hidden, Sight

# An aliased mapped class (``sqlalchemy.orm.aliased(Model)``): attribute access gives its columns.
Alias = Any
Condition = Callable[[Alias], ColumnElement[bool]]
Join = Callable[[Alias, Alias], ColumnElement[bool]]


class Kind(enum.Enum):
    """How a value is written in a response (and so how SQL must render it)."""

    TEXT = "text"
    INT = "int"
    BOOL = "bool"
    ENUM = "enum"  # stored and written as the member's name
    DATETIME = "datetime"  # RFC 3339, UTC, "Z"
    JSON = "json"  # a JSONB document, as stored
    ID = "id"  # the entity's global ID


@dataclass(frozen=True)
class Derived:
    """A value computed from a row: ``sql`` over the entity's alias, ``python`` over a loaded row (None
    when only the database can compute it, e.g. a sum over other rows: loaders read it then)."""

    sql: Callable[[Alias], ColumnElement[Any]]
    python: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Attribute:
    name: str
    kind: Kind
    column: str | None = None  # the model attribute holding it; defaults to ``name``
    derived: Derived | None = None
    nullable: bool = True
    internal: Hidden | None = None  # what a viewer without internal sight reads instead

    def sql(self, alias: Alias) -> ColumnElement[Any]:
        if self.derived is not None:
            return self.derived.sql(alias)
        column: ColumnElement[Any] = getattr(alias, self.column or self.name)
        return column

    @property
    def in_row(self) -> bool:
        """Whether a loaded row carries the value (else only SQL computes it)."""
        return self.derived is None or self.derived.python is not None

    def python(self, row: Any) -> Any:
        if self.derived is not None:
            if self.derived.python is None:
                raise LookupError(f"{self.name} is computed by the database, not read from a row")
            return self.derived.python(row)
        return getattr(row, self.column or self.name)

    def read(self, row: Any, sight: Sight) -> Any:
        """The value as a viewer with ``sight`` reads it."""
        if self.internal is not None and sight is Sight.PUBLIC:
            return self.internal.value
        return self.python(row)


@dataclass(frozen=True)
class Embedded:
    """An object stored in its owner's row (an incident's resolution): absent while ``present_when`` is
    false, else its attributes read the owner's columns."""

    name: str
    present_when: Derived
    attributes: Mapping[str, Attribute]


class Cardinality(enum.Enum):
    ONE = "one"
    LIST = "list"  # every related row, in ``order``
    PAGE = "page"  # a keyset-paginated connection in ``sort`` order


@dataclass(frozen=True)
class SortKey:
    """Columns of a keyset sort; the last is unique. A cursor carries their values in this order."""

    columns: tuple[str, ...]
    descending: bool = False


@dataclass(frozen=True)
class Relation:
    name: str
    target: str  # the related entity's name
    cardinality: Cardinality
    join: Join  # (this entity's alias, the target's alias) -> the condition relating them
    order: tuple[str, ...] = ()  # a LIST's order (target columns, ascending)
    sort: SortKey | None = None  # a PAGE's keyset sort
    internal: Hidden | None = None  # what a viewer without internal sight reads instead


@dataclass(frozen=True)
class Entity:
    name: str  # as clients know it: the GraphQL type and the global ID's prefix
    model: type[Any]
    attributes: Mapping[str, Attribute]
    relations: Mapping[str, Relation] = field(default_factory=dict)
    embedded: Mapping[str, Embedded] = field(default_factory=dict)
    # The rows a viewer without internal sight may read at all (None: every row in its tenants).
    public_rows: Condition | None = None

    def attribute(self, name: str) -> Attribute:
        return self.attributes[name]

    def relation(self, name: str) -> Relation:
        return self.relations[name]


def attributes(*declared: Attribute) -> dict[str, Attribute]:
    return {a.name: a for a in declared}


def relations(*declared: Relation) -> dict[str, Relation]:
    return {r.name: r for r in declared}
