"""Checks of an operation before it executes: a query cost budget, and subscriptions only over WebSocket.

The cost budget refuses operations that would fetch too much.

Each selected field costs 1; a field paginated with ``first``/``last`` multiplies its sub-selection's cost
by the page size asked for (the default page size when neither is given), and ``nodes(ids:)`` by the
number of ids. Variables are read at execution time, so a variable page size is priced like a literal one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    value_from_ast_untyped,
)
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from api.graphql.documents import fragments_of
from api.relay import DEFAULT_PAGE


class QueryCostLimiter(SchemaExtension):
    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            fragments = fragments_of(document)
            variables = context.variables or {}
            for definition in document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                if (
                    context.operation_name
                    and definition.name
                    and definition.name.value != context.operation_name
                ):
                    continue
                cost = operation_cost(definition, fragments, variables)
                if cost > self.max_cost:
                    context.result = ExecutionResult(
                        data=None,
                        errors=[
                            GraphQLError(
                                f"query cost {cost} exceeds the budget of {self.max_cost}; ask for smaller pages",
                                extensions={"code": "LIMIT_EXCEEDED", "cost": cost, "budget": self.max_cost},
                            )
                        ],
                    )
        yield


def operation_cost(
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    """The operation's cost under the budget's rules (the module's docstring), for the given variables."""
    return _selection_cost(operation.selection_set, fragments, variables, set())


def _selection_cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    seen: set[str],
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            children = _selection_cost(selection.selection_set, fragments, variables, seen)
            total += 1 + _multiplier(selection, variables) * children
        elif isinstance(selection, InlineFragmentNode):
            total += _selection_cost(selection.selection_set, fragments, variables, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:  # a cycle is a validation error elsewhere
                total += _selection_cost(fragments[name].selection_set, fragments, variables, seen | {name})
    return total


def _multiplier(field: FieldNode, variables: dict[str, Any]) -> int:
    arguments = {a.name.value: value_from_ast_untyped(a.value, variables) for a in field.arguments or ()}
    if "ids" in arguments and isinstance(arguments["ids"], list):
        return max(1, len(arguments["ids"]))
    for name in ("first", "last"):
        if isinstance(arguments.get(name), int):
            return max(1, int(arguments[name]))
    if {"first", "last", "after", "before"} & arguments.keys() or field.name.value in _CONNECTIONS:
        return DEFAULT_PAGE
    return 1


# Connection fields priced at the default page size when called without pagination arguments.
_CONNECTIONS = frozenset({"incidents", "tenants", "services", "children", "timeline", "bulletins"})


class SubscriptionsOverWebSocket(SchemaExtension):
    """A subscription sent as a plain HTTP request cannot stream: answer that, rather than run its resolver
    as if it were a query."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        request = getattr(context.context, "request", None)
        if context.operation_type is OperationType.SUBSCRIPTION and not isinstance(request, WebSocket):
            context.result = ExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        "subscriptions are served over WebSocket at /graphql"
                        " (graphql-transport-ws or graphql-ws)",
                        extensions={"code": "BAD_USER_INPUT"},
                    )
                ],
            )
        yield
