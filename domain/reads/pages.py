"""Keyset pages of the top-level listings the executor reads (services, tenants, bulletins, incidents).

A listing is one statement over one entity and the keyset order it is walked in. A page reads the
``size + 1`` rows of its window (the extra one tells whether more follow), in order, so an index walks
them and stops; its count is a COUNT over the same statement, so a page and ``totalCount`` never
disagree on which rows the listing holds. The caller chooses the transactions: a page and its count
(run only when a client asks for it) may each have their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from domain.reads.cursors import encode_cursor
from domain.reads.model import SortKey
from domain.reads.selection import Window

T = TypeVar("T")


@dataclass(frozen=True)
class Keyset:
    """The mapped columns a listing is ordered by; the last one is unique (the id)."""

    columns: tuple[InstrumentedAttribute[Any], ...]
    descending: bool = False

    @classmethod
    def of(cls, model: type[Any], sort: SortKey) -> Keyset:
        """The read model's sort (column names) over ``model``'s columns."""
        return cls(tuple(getattr(model, c) for c in sort.columns), descending=sort.descending)

    @property
    def kinds(self) -> list[type]:
        """The columns' Python types, which a cursor's values must have to be this order's cursor."""
        return [column.type.python_type for column in self.columns]

    def values(self, row: Any) -> list[Any]:
        return [getattr(row, column.key) for column in self.columns]

    def order_by(self, backwards: bool) -> list[ColumnElement[Any]]:
        down = self.descending != backwards
        return [column.desc() if down else column.asc() for column in self.columns]

    def beyond(self, values: Sequence[Any], backwards: bool) -> ColumnElement[bool]:
        """Rows strictly past ``values`` (a cursor's, typed as ``kinds``) in the walking direction."""
        down = self.descending != backwards
        key = tuple_(*self.columns)
        # Each value is bound with its column's type: a bare string would compare a uuid with a varchar.
        bound = tuple_(*(literal(v, type_=c.type) for c, v in zip(self.columns, values, strict=True)))
        return key < bound if down else key > bound


@dataclass(frozen=True)
class Slice(Generic[T]):
    """A page's rows in the listing's order, each row's cursor, and whether rows lie beyond either end."""

    rows: list[T]
    cursors: list[str]
    has_next: bool
    has_previous: bool


@dataclass(frozen=True)
class Paged(Generic[T]):
    """A listing read in keyset pages: the rows ``statement`` selects (one entity), in ``keyset`` order."""

    statement: Select[T]
    keyset: Keyset

    async def page(self, session: AsyncSession, window: Window) -> Slice[T]:
        """The window's rows. The walking direction only changes the ORDER BY; the cursors bound the rows."""
        bounds = []
        if window.after is not None:
            bounds.append(self.keyset.beyond(window.after, backwards=False))
        if window.before is not None:
            bounds.append(self.keyset.beyond(window.before, backwards=True))
        query = (
            self.statement.where(*bounds)
            .order_by(*self.keyset.order_by(window.backwards))
            .limit(window.size + 1)
        )
        # Even for an empty page (first: 0) one row is read: whether any follow is still the page's to tell.
        rows = list((await session.scalars(query)).all())
        more = len(rows) > window.size
        rows = rows[: window.size]
        if window.backwards:
            rows.reverse()
        return Slice(
            rows=rows,
            cursors=[encode_cursor(self.keyset.values(row)) for row in rows],
            has_next=window.before is not None if window.backwards else more,
            has_previous=more if window.backwards else window.after is not None,
        )

    async def count(self, session: AsyncSession) -> int:
        """Every row the listing holds, whatever the window."""
        counted = await session.scalar(select(func.count()).select_from(self.statement.subquery()))
        return int(counted or 0)
