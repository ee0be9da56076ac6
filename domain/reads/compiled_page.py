"""A page of a connection inside a compiled read: its rows' subquery, its order, cursors and total.

A page is a LATERAL subquery that reads the rows of its keyset window in walking order, ``size + 1`` of
them when the body asks whether more follow (so an index walks them and stops), and aggregates them into
one JSON object: its edges and page facts. How each value of the body is written is the read compiler's
(``domain/reads/compiler.py``), which hands it in as ``render``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, bindparam, func, literal_column, select, tuple_
from sqlalchemy.orm import aliased
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ColumnClause

from domain.reads.cursors import cursor_sql
from domain.reads.json_text import json_object
from domain.reads.model import Alias, Entity, SortKey
from domain.reads.selection import Fact, Obj, Value, Window

# The rows a listing or relation holds, as conditions over an alias of its entity.
Where = Callable[[Alias], list[ColumnElement[bool]]]


def facts_asked(body: Obj) -> set[str]:
    """The page facts a page's body (its pageInfo included) asks for."""
    found: set[str] = set()
    for _, value in body.fields:
        if isinstance(value, Fact):
            found.add(value.name)
        elif isinstance(value, Obj):
            found |= facts_asked(value)
    return found


def _python_type(entity: Entity, column: str) -> type:
    kind: type = entity.model.__table__.c[column].type.python_type
    return kind


@dataclass(frozen=True)
class Page:
    """What a page's body reads: its rows and its window.

    When the body asks whether more rows follow, the rows are read ``size + 1`` and numbered in walking
    order (``number``); otherwise exactly ``size`` are read, unnumbered, and ordered by the sort's own
    columns (a window function per row saved)."""

    entity: Entity
    rows: Alias
    number: ColumnElement[int] | None
    sort: SortKey
    slot: str
    backwards: bool
    after: bool
    before: bool
    total: ColumnElement[int]

    size_value: int

    @property
    def size(self) -> ColumnElement[int]:
        # Written into the statement: the planner sees the LIMIT, so one generic plan serves every request.
        return literal_column(str(int(self.size_value)), Integer)

    @property
    def kept(self) -> ColumnElement[bool] | None:
        """The rows of the page itself (the extra one only tells that more follow)."""
        return None if self.number is None else self.number <= self.size

    def in_order(self, descending: bool = False) -> list[ColumnElement[Any]]:
        """The page's own order (or its reverse). Walking backwards reads the rows from the far end."""
        if self.number is not None:
            down = self.backwards != descending
            return [self.number.desc() if down else self.number.asc()]
        down = self.sort.descending != descending
        return [
            getattr(self.rows, c).desc() if down else getattr(self.rows, c).asc() for c in self.sort.columns
        ]

    def cursor(self) -> ColumnElement[str]:
        return cursor_sql([(getattr(self.rows, c), _python_type(self.entity, c)) for c in self.sort.columns])


def page_json(
    entity: Entity,
    where: Where,
    sort: SortKey,
    slot: str,
    window: Window,
    body: Obj,
    render: Callable[[Value, Page], ColumnElement[Any]],
) -> ColumnElement[Any]:
    """The page's JSON object: each of ``body``'s values rendered over the page by ``render``. The
    cursors' values are parameters named after ``slot`` (``Arguments.binds`` fills them)."""
    row = aliased(entity.model)
    columns = [getattr(row, c) for c in sort.columns]
    # The total counts every row of the relation or listing, whatever the window.
    counted = aliased(entity.model)
    total = (
        select(func.count())
        .select_from(counted)
        .where(*where(counted))
        .correlate_except(counted)
        .scalar_subquery()
    )
    keyset = where(row)
    for name, bound in (("after", window.after), ("before", window.before)):
        if bound is None:
            continue
        values = tuple_(
            *(
                bindparam(f"{slot}_{name}_{i}", type_=entity.model.__table__.c[c].type)
                for i, c in enumerate(sort.columns)
            )
        )
        # Past "after" in the sort's direction; short of "before".
        forward = (name == "after") != sort.descending
        keyset.append(tuple_(*columns) > values if forward else tuple_(*columns) < values)
    down = sort.descending != window.backwards
    walking = [c.desc() if down else c.asc() for c in columns]
    # Whether more rows follow is told by reading one more.
    counting = bool({"has_next", "has_previous"} & facts_asked(body))
    size = literal_column(str(int(window.size) + counting), Integer)

    def built(read: Sequence[str] | None) -> tuple[Alias, ColumnElement[Any]]:
        """The page's rows (every column, or only those ``read``) and the page's JSON over them."""
        numbered = (
            select(
                *([row] if read is None else [getattr(row, c) for c in read]),
                *([func.row_number().over(order_by=walking).label("n")] if counting else []),
            )
            .where(*keyset)
            .correlate_except(row)
            .order_by(*walking)
            .limit(size)
            # LATERAL: a page of a relation reads its owner's columns from the enclosing query.
            .lateral()
        )
        rows = aliased(entity.model, numbered)
        page = Page(
            entity=entity,
            rows=rows,
            number=numbered.c.n if counting else None,
            sort=sort,
            slot=slot,
            backwards=window.backwards,
            after=window.after is not None,
            before=window.before is not None,
            total=total,
            size_value=window.size,
        )
        pairs = [(key, render(value, page)) for key, value in body.fields]
        # GROUP BY (): one row, page facts and all, even when the page is empty and nothing aggregates.
        return numbered, (
            select(json_object(pairs)).select_from(numbered).group_by(literal_column("()")).scalar_subquery()
        )

    # Built twice: first over every column to learn which ones the body reads (its values, the keys
    # its relations join on, the cursor's), then over those alone; PostgreSQL would otherwise carry
    # every column of every row (a whole incident, an event's JSON data) through the page.
    numbered, whole = built(None)
    read = {
        element.key
        for element in visitors.iterate(whole)
        if isinstance(element, ColumnClause) and element.table is numbered and element.key != "n"
    }
    return built([c for c in entity.model.__table__.c.keys() if c in read])[1]
