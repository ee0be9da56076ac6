"""The root fields compiled reads answer, and how each slot is bound per request.

Each binder decodes its field's arguments exactly as the executor's resolver does (the same
``PageRequest``, the same ``incident_query``), and raises ``NotCompilable`` wherever the resolver would
answer with an error or a special case: the executor then answers, so errors are always its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    VariableNode,
    get_argument_values,
    get_named_type,
)
from strawberry.types.arguments import convert_arguments

from api.compiled.translate import Binder, Translator
from api.context import Context
from api.errors import ClientError
from api.incidents.queries import NUMBER, IncidentOrder, incident_query, readable_tenants
from api.relay import PageRequest, parse_id
from api.tenancy.resolve import resolve_tenant
from domain.errors import Refused
from domain.incidents.queries import NEWEST_FIRST, IncidentById, IncidentByNumber, sort_by
from domain.reads.compiler import NotCompilable
from domain.reads.model import Entity, SortKey
from domain.reads.selection import Obj, RootOne, RootPage, Window


def field_arguments(
    translator: Translator, definition: GraphQLField, node: FieldNode, variables: Any
) -> dict[str, Any]:
    """The field's arguments by Python name, exactly as the executor hands them to the resolver
    (graphql-core's coercion, then Strawberry's conversion into input classes and enums). Arguments
    written as literals are the same for every request: converted once."""
    constant = not _uses_variables(node)
    if constant and id(node) in translator.constant_arguments:
        return translator.constant_arguments[id(node)]
    try:
        raw = get_argument_values(definition, node, variables)
    except GraphQLError:
        raise NotCompilable("an argument the executor refuses") from None
    field = definition.extensions["strawberry-definition"]
    schema = translator.strawberry
    converted: dict[str, Any] = convert_arguments(
        raw, field.arguments, scalar_registry=schema.schema_converter.scalar_registry, config=schema.config
    )
    if constant:
        translator.constant_arguments[id(node)] = converted
    return converted


def _uses_variables(node: FieldNode) -> bool:
    pending: list[Any] = [argument.value for argument in node.arguments or ()]
    while pending:
        value = pending.pop()
        if isinstance(value, VariableNode):
            return True
        pending.extend(getattr(value, "values", ()) or ())
        pending.extend(f.value for f in getattr(value, "fields", ()) or ())
    return False


def _kinds(entity: Entity, sort: SortKey) -> list[type]:
    return [entity.model.__table__.c[c].type.python_type for c in sort.columns]


def _window(arguments: Mapping[str, Any], kinds: list[type]) -> Window:
    request = PageRequest(
        first=arguments.get("first"),
        after=arguments.get("after"),
        last=arguments.get("last"),
        before=arguments.get("before"),
    )
    try:
        return request.window(kinds)
    except GraphQLError as error:  # the executor answers with this very error
        raise NotCompilable(error.message) from None


def window_binder(
    translator: Translator, definition: GraphQLField, node: FieldNode, entity: Entity, sort: SortKey | None
) -> Binder:
    assert sort is not None
    kinds = _kinds(entity, sort)

    async def bind(variables: Any, ctx: Context) -> Window:
        return _window(field_arguments(translator, definition, node, variables), kinds)

    return bind


def _authenticated(ctx: Context) -> None:
    if ctx.principal is None:
        raise NotCompilable("anonymous")


# ---------------------------------------------------------------- Query.incidents


def incidents(translator: Translator, key: str, definition: GraphQLField, nodes: list[FieldNode]) -> RootPage:
    entity = translator.entities["Incident"]
    node = nodes[0]

    def order_of(arguments: Mapping[str, Any]) -> SortKey:
        order: IncidentOrder | None = arguments.get("order_by")
        return sort_by(order.field.value, order.direction.value == "DESC") if order else NEWEST_FIRST

    async def listing(variables: Any, ctx: Context) -> Any:
        _authenticated(ctx)
        arguments = field_arguments(translator, definition, node, variables)
        return await incident_query(ctx, arguments.get("filter"), arguments.get("order_by"))

    async def window(variables: Any, ctx: Context) -> Window:
        arguments = field_arguments(translator, definition, node, variables)
        return _window(arguments, _kinds(entity, order_of(arguments)))

    listing_slot = translator.slot("listing", listing)
    window_slot = translator.slot("window", window)
    body = translator.connection(get_named_type(definition.type), nodes, entity)
    return RootPage(entity.name, listing_slot, window_slot, body)


# ---------------------------------------------------------------- Query.incidentByNumber


def incident_by_number(
    translator: Translator, key: str, definition: GraphQLField, nodes: list[FieldNode]
) -> RootOne:
    entity = translator.entities["Incident"]
    node = nodes[0]

    async def lookup(variables: Any, ctx: Context) -> IncidentByNumber:
        _authenticated(ctx)
        arguments = field_arguments(translator, definition, node, variables)
        match = NUMBER.match(str(arguments["number"]).strip())
        if match is None:
            raise NotCompilable("not an incident number")
        try:
            tenant_id = await resolve_tenant(ctx, arguments.get("tenant"))
        except (Refused, ClientError):
            raise NotCompilable("the tenant") from None
        if tenant_id not in readable_tenants(ctx):
            raise NotCompilable("an unreadable tenant")
        return IncidentByNumber(tenant_id=tenant_id, number=int(match.group(1)))

    slot = translator.slot("lookup", lookup)
    type_ = get_named_type(definition.type)
    assert isinstance(type_, GraphQLObjectType)
    return RootOne(entity.name, slot, translator.entity_object(type_, nodes, entity))


# ---------------------------------------------------------------- Query.node


def node(translator: Translator, key: str, definition: GraphQLField, nodes: list[FieldNode]) -> RootOne:
    """``node(id:)`` of an incident: the id's type decides which fragments apply (it is part of the
    translation's structure key, so another type of id translates anew)."""
    arguments = field_arguments(translator, definition, nodes[0], translator.variables)
    parsed = parse_id(arguments.get("id"))
    if parsed is None or parsed[0] != "Incident":
        raise NotCompilable("node of another type")
    entity = translator.entities["Incident"]
    type_ = translator.schema.get_type("Incident")
    assert isinstance(type_, GraphQLObjectType)
    body: Obj = translator.entity_object(type_, nodes, entity)

    async def lookup(variables: Any, ctx: Context) -> IncidentById:
        _authenticated(ctx)
        found = parse_id(field_arguments(translator, definition, nodes[0], variables).get("id"))
        if found is None or found[0] != "Incident":
            raise NotCompilable("node of another type")
        return IncidentById(tenants=readable_tenants(ctx), id=found[1])

    return RootOne(entity.name, translator.slot("lookup", lookup), body)


ROOTS = {"incidents": incidents, "incidentByNumber": incident_by_number, "node": node}
