"""A GraphQL operation into the read model's response tree (``domain/reads/selection.py``).

GraphQL object types named like read-model entities map field by field through Strawberry's Python
names (``reportedAt`` is the entity's ``reported_at``); an entity's embedded objects, its relations, and
Relay's connection, edge and page-info types map by their shape. What maps nowhere (an SLA clock
computed in Python, an incident's review) raises ``NotCompilable``, and the request goes to the executor.

The tree depends on the document, the operation, and the few variable values that change its shape
(``@skip``/``@include`` conditions, the type a ``node`` id names): ``structure`` says which. Everything
else a request varies (page sizes, cursors, filters) is bound per request by the ``Slot``s it records.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)

from api.relay import parse_id
from domain.reads.compiler import NotCompilable
from domain.reads.model import Cardinality, Entity
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

# A slot's binder: from the request's variables (graphql-core's VariableValues) and context to its value.
Binder = Callable[[Any, Any], Awaitable[Any]]
RootHandler = Callable[["Translator", str, GraphQLField, list[FieldNode]], Any]

PAGE_INFO = {
    "hasNextPage": "has_next",
    "hasPreviousPage": "has_previous",
    "startCursor": "start_cursor",
    "endCursor": "end_cursor",
}


@dataclass(frozen=True)
class Slot:
    """A per-request value of the tree: a page window, a listing, or a lookup."""

    kind: str  # "window", "listing" or "lookup"
    name: str
    bind: Binder


@dataclass
class Translation:
    tree: Tree
    slots: list[Slot] = field(default_factory=list)


def structure(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> list[str]:
    """The variables whose values change the tree's shape: conditions of ``@skip``/``@include``, and the
    ids of ``node`` (whose type decides which fields apply)."""
    names: set[str] = set()
    pending: list[Any] = [operation.selection_set, *(f.selection_set for f in fragments.values())]
    while pending:
        selection_set = pending.pop()
        for selection in selection_set.selections if selection_set else ():
            for directive in selection.directives or ():
                for argument in directive.arguments or ():
                    if isinstance(argument.value, VariableNode):
                        names.add(argument.value.name.value)
            if isinstance(selection, FieldNode) and selection.name.value == "node":
                for argument in selection.arguments or ():
                    if isinstance(argument.value, VariableNode):
                        names.add(argument.value.name.value)
            if getattr(selection, "selection_set", None) is not None:
                pending.append(selection.selection_set)
    return sorted(names)


def structure_key(names: list[str], variables: Mapping[str, Any]) -> Hashable:
    """The shape-deciding values of this request (a node id counts by the type it names)."""
    key = []
    for name in names:
        value = variables.get(name)
        if isinstance(value, str):
            parsed = parse_id(value)
            value = ("id", parsed[0] if parsed else None)
        key.append((name, value))
    return tuple(key)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Translator:
    def __init__(
        self,
        strawberry: Any,
        entities: Mapping[str, Entity],
        roots: Mapping[str, RootHandler],
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Any,
    ) -> None:
        self.strawberry = strawberry  # the Strawberry schema: its argument conversion is the executor's
        self.schema: GraphQLSchema = strawberry._schema
        self.entities = entities
        self.roots = roots
        self.operation = operation
        self.fragments = fragments
        self.variables = variables  # graphql-core's VariableValues of the request translated
        self.slots: list[Slot] = []
        # Arguments written as literals, converted once (by the field node's identity).
        self.constant_arguments: dict[int, dict[str, Any]] = {}

    # ------------------------------------------------------------ the operation

    def translate(self) -> Translation:
        query = self.schema.query_type
        assert query is not None
        pairs: list[tuple[str, Any]] = []
        for key, nodes in self.collect(query, [self.operation.selection_set]).items():
            name = nodes[0].name.value
            if name == "__typename":
                pairs.append((key, Const(query.name)))
                continue
            handler = self.roots.get(name)
            if handler is None:
                raise NotCompilable(f"Query.{name}")
            pairs.append((key, handler(self, key, query.fields[name], nodes)))
        return Translation(Tree(tuple(pairs)), self.slots)

    def slot(self, kind: str, bind: Binder) -> str:
        name = f"{kind[0]}{len(self.slots)}"
        self.slots.append(Slot(kind, name, bind))
        return name

    # ------------------------------------------------------------ objects of entities

    def entity_object(self, type_: GraphQLObjectType, nodes: list[FieldNode], entity: Entity) -> Obj:
        pairs: list[tuple[str, Value]] = []
        for key, fields in self.collect(type_, [n.selection_set for n in nodes]).items():
            name = fields[0].name.value
            if name == "__typename":
                pairs.append((key, Const(type_.name)))
                continue
            definition = type_.fields[name]
            python = _python_name(definition, name)
            target = get_named_type(definition.type)
            if fields[0].arguments and python not in entity.relations:
                raise NotCompilable(f"{type_.name}.{name} with arguments")
            if python in entity.attributes:
                pairs.append((key, Attr(python)))
            elif python in entity.embedded:
                embedded = entity.embedded[python]
                pairs.append((key, Embed(python, self._embedded(target, fields, embedded.attributes))))
            elif python in entity.relations:
                pairs.append((key, self._relation(entity, python, definition, target, fields)))
            else:
                raise NotCompilable(f"{type_.name}.{name}")
        return Obj(tuple(pairs))

    def _embedded(self, type_: Any, nodes: list[FieldNode], attributes: Mapping[str, Any]) -> Obj:
        if not isinstance(type_, GraphQLObjectType):
            raise NotCompilable(str(type_))
        pairs: list[tuple[str, Value]] = []
        for key, fields in self.collect(type_, [n.selection_set for n in nodes]).items():
            name = fields[0].name.value
            if name == "__typename":
                pairs.append((key, Const(type_.name)))
                continue
            python = _python_name(type_.fields[name], name)
            if python not in attributes:
                raise NotCompilable(f"{type_.name}.{name}")
            pairs.append((key, Attr(python)))
        return Obj(tuple(pairs))

    def _relation(
        self, entity: Entity, python: str, definition: GraphQLField, target: Any, nodes: list[FieldNode]
    ) -> Value:
        relation = entity.relations[python]
        related = self.entities[relation.target]
        if relation.cardinality is Cardinality.PAGE:
            window = self.window_slot(definition, nodes[0], related, relation.sort)
            return Paginate(python, window, self.connection(target, nodes, related))
        if nodes[0].arguments:
            raise NotCompilable(f"{entity.name}.{python} with arguments")
        if not isinstance(target, GraphQLObjectType) or target.name != related.name:
            raise NotCompilable(f"{entity.name}.{python}")
        body = self.entity_object(target, nodes, related)
        if relation.cardinality is Cardinality.ONE:
            return Follow(python, body)
        return Collect(python, body)

    def window_slot(self, definition: GraphQLField, node: FieldNode, entity: Entity, sort: Any) -> str:
        """A page window bound per request from the field's first/after/last/before."""
        # Imported here: api.compiled.binding imports this module (its binders are typed with Translator).
        from api.compiled.binding import window_binder

        return self.slot("window", window_binder(self, definition, node, entity, sort))

    # ------------------------------------------------------------ Relay's shapes

    def connection(self, type_: Any, nodes: list[FieldNode], entity: Entity) -> Obj:
        if not isinstance(type_, GraphQLObjectType) or "edges" not in type_.fields:
            raise NotCompilable(str(type_))
        pairs: list[tuple[str, Value]] = []
        for key, fields in self.collect(type_, [n.selection_set for n in nodes]).items():
            name = fields[0].name.value
            if name == "__typename":
                pairs.append((key, Const(type_.name)))
            elif name == "totalCount":
                pairs.append((key, Fact("total")))
            elif name == "edges":
                edge = get_named_type(type_.fields["edges"].type)
                pairs.append((key, Edges(self._edge(edge, fields, entity))))
            elif name == "pageInfo":
                info = get_named_type(type_.fields["pageInfo"].type)
                pairs.append((key, self._page_info(info, fields)))
            else:
                raise NotCompilable(f"{type_.name}.{name}")
        return Obj(tuple(pairs))

    def _edge(self, type_: Any, nodes: list[FieldNode], entity: Entity) -> Obj:
        if not isinstance(type_, GraphQLObjectType):
            raise NotCompilable(str(type_))
        pairs: list[tuple[str, Value]] = []
        for key, fields in self.collect(type_, [n.selection_set for n in nodes]).items():
            name = fields[0].name.value
            if name == "__typename":
                pairs.append((key, Const(type_.name)))
            elif name == "cursor":
                pairs.append((key, RowCursor()))
            elif name == "node":
                node_type = get_named_type(type_.fields["node"].type)
                if not isinstance(node_type, GraphQLObjectType) or node_type.name != entity.name:
                    raise NotCompilable(f"{type_.name}.node")
                pairs.append((key, self.entity_object(node_type, fields, entity)))
            else:
                raise NotCompilable(f"{type_.name}.{name}")
        return Obj(tuple(pairs))

    def _page_info(self, type_: Any, nodes: list[FieldNode]) -> Obj:
        if not isinstance(type_, GraphQLObjectType):
            raise NotCompilable(str(type_))
        pairs: list[tuple[str, Value]] = []
        for key, fields in self.collect(type_, [n.selection_set for n in nodes]).items():
            name = fields[0].name.value
            if name == "__typename":
                pairs.append((key, Const(type_.name)))
            elif name in PAGE_INFO:
                pairs.append((key, Fact(PAGE_INFO[name])))
            else:
                raise NotCompilable(f"{type_.name}.{name}")
        return Obj(tuple(pairs))

    def root_page(self, entity: Entity, listing: str, window: str, body: Obj) -> RootPage:
        return RootPage(entity.name, listing, window, body)

    def root_one(self, entity: Entity, lookup: str, body: Obj) -> RootOne:
        return RootOne(entity.name, lookup, body)

    # ------------------------------------------------------------ collecting fields

    def collect(
        self, runtime: GraphQLObjectType, selection_sets: list[SelectionSetNode | None]
    ) -> dict[str, list[FieldNode]]:
        """The fields a selection asks of an object of type ``runtime``, by response key, in the order
        the executor writes them (fragments that apply folded in, ``@skip``/``@include`` obeyed)."""
        grouped: dict[str, list[FieldNode]] = {}
        seen: set[str] = set()

        def visit(selection_set: SelectionSetNode | None) -> None:
            for selection in selection_set.selections if selection_set else ():
                if not self._included(selection.directives or ()):
                    continue
                if isinstance(selection, FieldNode):
                    grouped.setdefault((selection.alias or selection.name).value, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    if condition is None or self._applies(condition.name.value, runtime):
                        visit(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if fragment is None or name in seen:
                        continue
                    seen.add(name)
                    if self._applies(fragment.type_condition.name.value, runtime):
                        visit(fragment.selection_set)

        for selection_set in selection_sets:
            visit(selection_set)
        return grouped

    def _applies(self, condition: str, runtime: GraphQLObjectType) -> bool:
        if condition == runtime.name:
            return True
        named = self.schema.get_type(condition)
        if isinstance(named, GraphQLInterfaceType):
            return any(i.name == condition for i in runtime.interfaces)
        return False

    def _included(self, directives: Any) -> bool:
        for directive in directives:
            name = directive.name.value
            if name not in ("skip", "include"):
                raise NotCompilable(f"@{name}")
            value = self._condition(directive)
            if (name == "skip" and value) or (name == "include" and not value):
                return False
        return True

    def _condition(self, directive: DirectiveNode) -> bool:
        # The parser always gives a tuple; None is the type's default for a node built by hand.
        [argument] = directive.arguments or ()
        value = argument.value
        if isinstance(value, BooleanValueNode):
            return value.value
        if isinstance(value, VariableNode):
            return bool(self.variables.coerced.get(value.name.value))
        raise NotCompilable("a directive's condition")


def _python_name(definition: GraphQLField, name: str) -> str:
    backref = definition.extensions.get("strawberry-definition") if definition.extensions else None
    python = getattr(backref, "python_name", None)
    return python if isinstance(python, str) else snake(name)
