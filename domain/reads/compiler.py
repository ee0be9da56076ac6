"""The read compiler: a response tree (``domain/reads/selection.py``) into one SQL statement that builds
the response's ``data`` JSON inside PostgreSQL.

The JSON is written as text: each value rendered the way the executor writes it (``to_json`` of a text,
a number's digits, a formatted timestamp between quotes), objects as their keys and values concatenated
in the client's order, arrays with ``string_agg``; building text costs PostgreSQL a fraction of what
``json_build_object`` does, and the text is the response body as it comes. To-one relations and lists
are correlated subqueries, and a page is a subquery that reads ``size + 1`` rows of its keyset window in
order (so an index walks them and stops) and aggregates them into edges and page facts. Row-level security applies to
every table the statement touches, as to any other statement of the request; the statement only adds
what the read model says a viewer of the given ``Sight`` may not see.

Every value is rendered as the GraphQL layer writes it (see migration 0007's formatting functions), so a
compiled answer and an executed one are the same JSON; the differential test holds them to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.orm import aliased
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ColumnClause

from domain.reads.arguments import Arguments
from domain.reads.cursors import cursor_sql
from domain.reads.model import Alias, Attribute, Cardinality, Embedded, Entity, Kind, Relation, SortKey
from domain.reads.selection import (
    Attr,
    Collect,
    Const,
    Edges,
    Embed,
    Fact,
    Follow,
    Obj,
    Paginate,
    RootOne,
    RootPage,
    RowCursor,
    Tree,
    Value,
)
from domain.reads.sql import const
from domain.visibility import Hidden, Sight

# The runtime's own dialect: placeholders ($1, $2...) and casts as asyncpg takes them.
_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]  # SQLAlchemy's dialects are untyped

# concat() takes at most 100 arguments; longer objects nest their parts.
MAX_ARGUMENTS = 100
# Up to this many parts are joined with ||.
PIPED = 16
# LIMIT 1 in the text, not a parameter: a generic plan then knows it.
_ONE = literal_column("1", Integer)


class NotCompilable(Exception):
    """The tree asks for something the compiler does not build; the request goes to the executor."""


@dataclass(frozen=True)
class CompiledRead:
    """One statement returning one row of one column: the ``data`` object's JSON text."""

    sql: str
    parameters: tuple[str, ...]  # the bind names, in the statement's positional order
    constants: Mapping[str, Any]  # values of the statement's own literals (a LIMIT 1, a pad width)

    def values(self, binds: Mapping[str, Any]) -> list[Any]:
        return [binds[name] if name in binds else self.constants[name] for name in self.parameters]


def compile_read(
    tree: Tree, arguments: Arguments, sight: Sight, entities: Mapping[str, Entity]
) -> CompiledRead:
    statement = _Builder(entities, arguments, sight).statement(tree)
    compiled = statement.compile(dialect=_DIALECT)
    constants = {name: value for name, value in compiled.params.items() if value is not None}
    return CompiledRead(compiled.string, tuple(compiled.positiontup or ()), constants)


def _concat(parts: Sequence[ColumnElement[Any] | str]) -> ColumnElement[str]:
    """The parts' text run together; ``str`` parts are JSON punctuation, written into the statement (and
    neighbours merged, so an object's constant text between two values is one literal).

    A few parts are joined with ``||`` (cheapest, and null when a part is: every value is rendered
    non-null first); many with ``concat``, whose one pass avoids copying a growing text again and
    again."""
    merged: list[ColumnElement[Any] | str] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    pieces = [const(p) if isinstance(p, str) else p for p in merged]
    if len(pieces) <= PIPED:
        joined: ColumnElement[str] = pieces[0]
        for piece in pieces[1:]:
            joined = joined + piece
        return joined
    while len(pieces) > MAX_ARGUMENTS:
        pieces = [
            func.concat(*pieces[i : i + MAX_ARGUMENTS], type_=String)
            for i in range(0, len(pieces), MAX_ARGUMENTS)
        ]
    concatenated: ColumnElement[str] = func.concat(*pieces, type_=String)
    return concatenated


def _json_object(pairs: Sequence[tuple[str, ColumnElement[Any]]]) -> ColumnElement[str]:
    """A JSON object of the pairs, keys in order. Keys are GraphQL response names: nothing to escape."""
    parts: list[ColumnElement[Any] | str] = ["{"]
    for index, (key, value) in enumerate(pairs):
        parts += [("," if index else "") + json.dumps(key) + ":", value]
    parts.append("}")
    return _concat(parts)


def _json_array(
    items: ColumnElement[Any], order: Sequence[ColumnElement[Any]], kept: ColumnElement[bool] | None = None
) -> ColumnElement[str]:
    """A JSON array of the rows' items, in ``order`` (only the ``kept`` rows); empty for no rows."""
    aggregated = func.string_agg(items, aggregate_order_by(const(","), *order), type_=String)
    joined: ColumnElement[str] = aggregated.filter(kept) if kept is not None else aggregated
    return _concat(["[", func.coalesce(joined, const("")), "]"])


def _quoted(value: ColumnElement[Any]) -> ColumnElement[str]:
    """A JSON string of text that needs no escaping (a formatted time, base64); null stays null (``||``
    propagates it, where ``concat`` would write an empty string)."""
    quoted: ColumnElement[str] = const('"') + value + const('"')
    return quoted


def _or_null(value: ColumnElement[Any]) -> ColumnElement[str]:
    return func.coalesce(value, const("null"), type_=String)


def _facts(body: Obj) -> set[str]:
    """The page facts a page's body (its pageInfo included) asks for."""
    found: set[str] = set()
    for _, value in body.fields:
        if isinstance(value, Fact):
            found.add(value.name)
        elif isinstance(value, Obj):
            found |= _facts(value)
    return found


def _python_type(entity: Entity, column: str) -> type:
    kind: type = entity.model.__table__.c[column].type.python_type
    return kind


@dataclass(frozen=True)
class _Row:
    """Where values are read: an entity's alias, or an embedded object of it."""

    entity: Entity
    alias: Alias
    embedded: Embedded | None = None


@dataclass(frozen=True)
class _Page:
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


class _Builder:
    def __init__(self, entities: Mapping[str, Entity], arguments: Arguments, sight: Sight) -> None:
        self.entities = entities
        self.arguments = arguments
        self.sight = sight

    # ------------------------------------------------------------ the statement

    def statement(self, tree: Tree) -> Select[Any]:
        pairs = [(key, self._root(value)) for key, value in tree.fields]
        return select(_json_object(pairs).label("data"))

    def _root(self, value: Any) -> ColumnElement[Any]:
        if isinstance(value, Const):
            return self._const(value)
        entity = self.entities[value.entity]
        row = aliased(entity.model)
        if isinstance(value, RootOne):
            lookup = self.arguments.lookups[value.lookup]
            conditions = [*lookup.conditions(row, value.lookup), *self._public(entity, row)]
            # FROM named, not inferred: a body reading only related rows would otherwise lose its table.
            return _or_null(
                select(self._object(value.body, _Row(entity, row)))
                .select_from(row)
                .where(*conditions)
                .limit(_ONE)
                .scalar_subquery()
            )
        if isinstance(value, RootPage):
            listing = self.arguments.listings[value.listing]

            def listed(rows: Alias) -> list[ColumnElement[bool]]:
                return [*listing.conditions(rows, value.listing), *self._public(entity, rows)]

            return self._page(entity, listed, listing.sort, value.window, value.body)
        raise NotCompilable(type(value).__name__)

    # ------------------------------------------------------------ values of a row

    def _object(self, body: Obj, row: _Row, page: _Page | None = None) -> ColumnElement[Any]:
        return _json_object([(key, self._value(value, row, page)) for key, value in body.fields])

    def _value(self, value: Value, row: _Row, page: _Page | None) -> ColumnElement[Any]:
        if isinstance(value, Const):
            return self._const(value)
        if isinstance(value, Attr):
            return self._attribute(row, value.name)
        if isinstance(value, Obj):
            return self._object(value, row, page)
        if isinstance(value, Embed):
            return self._embed(value, row)
        if isinstance(value, Follow | Collect | Paginate):
            return self._relation(value, row)
        if isinstance(value, RowCursor):
            if page is None:
                raise NotCompilable("a cursor outside a page")
            return _quoted(page.cursor())
        if isinstance(value, Edges | Fact):
            raise NotCompilable(f"{type(value).__name__} outside a page")
        raise NotCompilable(type(value).__name__)

    def _const(self, value: Const) -> ColumnElement[Any]:
        return const(json.dumps(value.value))

    def _attribute(self, row: _Row, name: str) -> ColumnElement[Any]:
        attributes = row.embedded.attributes if row.embedded else row.entity.attributes
        attribute: Attribute | None = attributes.get(name)
        if attribute is None:
            raise NotCompilable(f"{row.entity.name}.{name}")
        if attribute.internal is not None and self.sight is Sight.PUBLIC:
            return self._hidden(attribute.internal)
        return self._render(attribute, row)

    def _render(self, attribute: Attribute, row: _Row) -> ColumnElement[Any]:
        """The attribute as the executor writes it in JSON."""
        expression = attribute.sql(row.alias)
        rendered: ColumnElement[Any]
        if attribute.kind is Kind.DATETIME:
            rendered = _quoted(func.incidentdesk_json_time(expression, type_=String))
        elif attribute.kind is Kind.ID:
            rendered = _quoted(func.incidentdesk_global_id(const(row.entity.name), expression, type_=String))
        elif attribute.kind is Kind.ENUM:  # a member's name: nothing to escape
            rendered = _quoted(expression)
        elif attribute.kind is Kind.TEXT:
            rendered = cast(func.to_json(expression), String)
        else:  # INT, BOOL and JSON: their text is their JSON (a boolean reads "true" or "false")
            rendered = cast(expression, String)
        # A text made of parts is null when a part is: written "null", as is any absent value.
        return (
            _or_null(rendered)
            if attribute.nullable or attribute.kind in (Kind.DATETIME, Kind.ID)
            else rendered
        )

    def _hidden(self, hidden: Hidden) -> ColumnElement[Any]:
        return const(json.dumps(hidden.value))

    def _embed(self, value: Embed, row: _Row) -> ColumnElement[Any]:
        embedded = row.entity.embedded.get(value.name)
        if embedded is None or row.embedded is not None:
            raise NotCompilable(f"{row.entity.name}.{value.name}")
        inner = _Row(row.entity, row.alias, embedded)
        return case(
            (embedded.present_when.sql(row.alias), self._object(value.body, inner)), else_=const("null")
        )

    def _public(self, entity: Entity, alias: Alias) -> list[ColumnElement[bool]]:
        if self.sight is Sight.PUBLIC and entity.public_rows is not None:
            return [entity.public_rows(alias)]
        return []

    # ------------------------------------------------------------ relations

    def _relation(self, value: Follow | Collect | Paginate, row: _Row) -> ColumnElement[Any]:
        if row.embedded is not None:
            raise NotCompilable("a relation of an embedded object")
        relation: Relation | None = row.entity.relations.get(value.relation)
        if relation is None:
            raise NotCompilable(f"{row.entity.name}.{value.relation}")
        if relation.internal is not None and self.sight is Sight.PUBLIC:
            return self._hidden(relation.internal)
        target = self.entities[relation.target]
        other = aliased(target.model)

        def related(rows: Alias) -> list[ColumnElement[bool]]:
            return [relation.join(row.alias, rows), *self._public(target, rows)]

        conditions = related(other)
        if isinstance(value, Follow) and relation.cardinality is Cardinality.ONE:
            return _or_null(
                select(self._object(value.body, _Row(target, other)))
                .select_from(other)
                .where(*conditions)
                .limit(_ONE)
                .correlate_except(other)
                .scalar_subquery()
            )
        if isinstance(value, Collect) and relation.cardinality is Cardinality.LIST:
            order = [getattr(other, c) for c in relation.order]
            items = _json_array(self._object(value.body, _Row(target, other)), order)
            return (
                select(items).select_from(other).where(*conditions).correlate_except(other).scalar_subquery()
            )
        if isinstance(value, Paginate) and relation.cardinality is Cardinality.PAGE:
            assert relation.sort is not None
            return self._page(target, related, relation.sort, value.window, value.body)
        raise NotCompilable(f"{row.entity.name}.{value.relation} read as {type(value).__name__}")

    def _page(
        self,
        entity: Entity,
        where: Callable[[Alias], list[ColumnElement[bool]]],
        sort: SortKey,
        slot: str,
        body: Obj,
    ) -> ColumnElement[Any]:
        window = self.arguments.windows[slot]
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
        counting = bool({"has_next", "has_previous"} & _facts(body))
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
            page = _Page(
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
            pairs = [(key, self._page_value(value, page)) for key, value in body.fields]
            # GROUP BY (): one row, page facts and all, even when the page is empty and nothing aggregates.
            return numbered, (
                select(_json_object(pairs))
                .select_from(numbered)
                .group_by(literal_column("()"))
                .scalar_subquery()
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

    def _page_value(self, value: Value, page: _Page) -> ColumnElement[Any]:
        if isinstance(value, Edges):
            item = self._object(value.body, _Row(page.entity, page.rows), page)
            return _json_array(item, page.in_order(), page.kept)
        if isinstance(value, Fact):
            return self._fact(value.name, page)
        if isinstance(value, Const):
            return self._const(value)
        if isinstance(value, Obj):  # pageInfo: an object of page facts
            return _json_object([(key, self._page_value(v, page)) for key, v in value.fields])
        raise NotCompilable(f"{type(value).__name__} in a page")

    def _fact(self, name: str, page: _Page) -> ColumnElement[Any]:
        more = case((func.count() > page.size, const("true")), else_=const("false"))
        if name == "has_next":
            return const(json.dumps(page.before)) if page.backwards else more
        if name == "has_previous":
            return more if page.backwards else const(json.dumps(page.after))
        if name in ("start_cursor", "end_cursor"):
            ordered = func.array_agg(
                aggregate_order_by(page.cursor(), *page.in_order(descending=name == "end_cursor"))
            )
            cursors = ordered if page.kept is None else ordered.filter(page.kept)
            return _or_null(_quoted(type_coerce(cursors, ARRAY(String))[1]))
        if name == "total":
            return cast(page.total, String)
        raise NotCompilable(f"page fact {name}")
