"""What a compiled read builds: a tree describing the response JSON, in the read model's terms.

The edge translates a client's query into this tree (which keys, which values, in which order); the read
compiler (``domain/reads/compiler.py``) turns the tree into one SQL statement that builds that JSON. Values
known only when a request arrives (page sizes, cursors, filters, looked-up keys) are not in the tree:
the tree names a *slot* for them, and ``Arguments`` carries them per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union


@dataclass(frozen=True)
class Const:
    """A value known when compiling: a ``__typename``."""

    value: str | bool | int | None


@dataclass(frozen=True)
class Attr:
    """An attribute of the current row (of the current embedded object, inside ``Embed``)."""

    name: str


@dataclass(frozen=True)
class Obj:
    """A JSON object of the current row: its keys in the client's order."""

    fields: tuple[tuple[str, Value], ...]


@dataclass(frozen=True)
class Embed:
    """An object stored in the current row (an incident's resolution); null while absent."""

    name: str
    body: Obj


@dataclass(frozen=True)
class Follow:
    """The row a to-one relation leads to, as an object; null when there is none (or none visible)."""

    relation: str
    body: Obj


@dataclass(frozen=True)
class Collect:
    """Every row a list relation leads to, as an array of objects, in the relation's order."""

    relation: str
    body: Obj


@dataclass(frozen=True)
class Paginate:
    """A page of a connection relation, as an object whose ``body`` may use ``Edges`` and ``Fact``."""

    relation: str
    window: str  # the slot of its ``Window`` in ``Arguments``
    body: Obj


@dataclass(frozen=True)
class Edges:
    """Inside a page: the page's rows in order, each as ``body`` (which may use ``RowCursor``)."""

    body: Obj


@dataclass(frozen=True)
class RowCursor:
    """Inside a page's row: the row's cursor in the page's sort."""


@dataclass(frozen=True)
class Fact:
    """Inside a page: ``has_next``, ``has_previous``, ``start_cursor``, ``end_cursor`` or ``total``."""

    name: str


Value = Union[Const, Attr, Obj, Embed, Follow, Collect, Paginate, Edges, RowCursor, Fact]  # noqa: UP007


@dataclass(frozen=True)
class RootPage:
    """A top-level listing: the rows a ``Listing`` slot selects, paginated by a ``Window`` slot."""

    entity: str
    listing: str
    window: str
    body: Obj


@dataclass(frozen=True)
class RootOne:
    """A top-level lookup of at most one row (a ``Lookup`` slot); null when there is none."""

    entity: str
    lookup: str
    body: Obj


RootValue = Union[RootPage, RootOne, Const]  # noqa: UP007


@dataclass(frozen=True)
class Tree:
    """The ``data`` object of a response."""

    fields: tuple[tuple[str, RootValue], ...]


@dataclass(frozen=True)
class Window:
    """A page's position: ``size`` rows after/before the given sort-key values, walking backwards for
    ``last``. A page reads ``size + 1`` rows to know whether more follow."""

    size: int
    backwards: bool = False
    after: tuple[Any, ...] | None = None
    before: tuple[Any, ...] | None = None

    @property
    def shape(self) -> tuple[int, bool, bool, bool]:
        return (self.size, self.backwards, self.after is not None, self.before is not None)
