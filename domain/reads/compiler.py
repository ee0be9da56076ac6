"""The read compiler: a response tree (``domain/reads/selection.py``) into one SQL statement that builds
the response's ``data`` JSON inside PostgreSQL.

The JSON is written as text (``domain/reads/json_text.py``): each value rendered the way the executor
writes it (``to_json`` of a text, a number's digits, a formatted timestamp between quotes), objects as
their keys and values concatenated in the client's order, arrays with ``string_agg``. To-one relations
and lists are correlated subqueries; a page is a subquery that reads ``size + 1`` rows of its keyset
window in order and aggregates them into edges and page facts (``domain/reads/compiled_page.py``).
Row-level security applies to every table the statement touches, as to any other statement of the
request; the statement only adds what the read model says a viewer of the given ``Sight`` may not see.

Every value is rendered as the GraphQL layer writes it (see migration 0007's formatting functions), so a
compiled answer and an executed one are the same JSON; the differential test holds them to it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    case,
    cast,
    func,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.orm import aliased

from domain.reads.arguments import Arguments
from domain.reads.compiled_page import Page, Where, page_json
from domain.reads.json_text import json_array, json_object, or_null, quoted
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


@dataclass(frozen=True)
class _Row:
    """Where values are read: an entity's alias, or an embedded object of it."""

    entity: Entity
    alias: Alias
    embedded: Embedded | None = None


class _Builder:
    def __init__(self, entities: Mapping[str, Entity], arguments: Arguments, sight: Sight) -> None:
        self.entities = entities
        self.arguments = arguments
        self.sight = sight

    # ------------------------------------------------------------ the statement

    def statement(self, tree: Tree) -> Select[Any]:
        pairs = [(key, self._root(value)) for key, value in tree.fields]
        return select(json_object(pairs).label("data"))

    def _root(self, value: Any) -> ColumnElement[Any]:
        if isinstance(value, Const):
            return self._const(value)
        entity = self.entities[value.entity]
        row = aliased(entity.model)
        if isinstance(value, RootOne):
            lookup = self.arguments.lookups[value.lookup]
            conditions = [*lookup.conditions(row, value.lookup), *self._public(entity, row)]
            # FROM named, not inferred: a body reading only related rows would otherwise lose its table.
            return or_null(
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

    def _object(self, body: Obj, row: _Row, page: Page | None = None) -> ColumnElement[Any]:
        return json_object([(key, self._value(value, row, page)) for key, value in body.fields])

    def _value(self, value: Value, row: _Row, page: Page | None) -> ColumnElement[Any]:
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
            return quoted(page.cursor())
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
            rendered = quoted(func.incidentdesk_json_time(expression, type_=String))
        elif attribute.kind is Kind.ID:
            rendered = quoted(func.incidentdesk_global_id(const(row.entity.name), expression, type_=String))
        elif attribute.kind is Kind.ENUM:  # a member's name: nothing to escape
            rendered = quoted(expression)
        elif attribute.kind is Kind.TEXT:
            rendered = cast(func.to_json(expression), String)
        else:  # INT, BOOL and JSON: their text is their JSON (a boolean reads "true" or "false")
            rendered = cast(expression, String)
        # A text made of parts is null when a part is: written "null", as is any absent value.
        return (
            or_null(rendered)
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
            return or_null(
                select(self._object(value.body, _Row(target, other)))
                .select_from(other)
                .where(*conditions)
                .limit(_ONE)
                .correlate_except(other)
                .scalar_subquery()
            )
        if isinstance(value, Collect) and relation.cardinality is Cardinality.LIST:
            order = [getattr(other, c) for c in relation.order]
            items = json_array(self._object(value.body, _Row(target, other)), order)
            return (
                select(items).select_from(other).where(*conditions).correlate_except(other).scalar_subquery()
            )
        if isinstance(value, Paginate) and relation.cardinality is Cardinality.PAGE:
            assert relation.sort is not None
            return self._page(target, related, relation.sort, value.window, value.body)
        raise NotCompilable(f"{row.entity.name}.{value.relation} read as {type(value).__name__}")

    def _page(self, entity: Entity, where: Where, sort: SortKey, slot: str, body: Obj) -> ColumnElement[Any]:
        """A page of a listing or relation: ``compiled_page`` builds its rows and window, and asks here
        how each value of its body is written."""
        return page_json(entity, where, sort, slot, self.arguments.windows[slot], body, self._page_value)

    def _page_value(self, value: Value, page: Page) -> ColumnElement[Any]:
        if isinstance(value, Edges):
            item = self._object(value.body, _Row(page.entity, page.rows), page)
            return json_array(item, page.in_order(), page.kept)
        if isinstance(value, Fact):
            return self._fact(value.name, page)
        if isinstance(value, Const):
            return self._const(value)
        if isinstance(value, Obj):  # pageInfo: an object of page facts
            return json_object([(key, self._page_value(v, page)) for key, v in value.fields])
        raise NotCompilable(f"{type(value).__name__} in a page")

    def _fact(self, name: str, page: Page) -> ColumnElement[Any]:
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
            return or_null(quoted(type_coerce(cursors, ARRAY(String))[1]))
        if name == "total":
            return cast(page.total, String)
        raise NotCompilable(f"page fact {name}")
