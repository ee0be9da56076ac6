"""Compiled reads: answering a query with one SQL statement that builds its JSON, when it can.

For a prepared document, each operation is translated once per structure (``translate.structure``) into a
response tree, and each tree compiled once per argument shape and viewer sight into a statement. A
request then only binds its slots and runs the statement in its tenant scope; PostgreSQL's JSON text
becomes the response body as it comes.

``answer`` returns None whenever the executor must answer instead: a mutation, a field the read model
does not cover, arguments the executor would refuse, a viewer whose sight differs between tenants. The
executor then answers exactly as it always did: compiled reads only ever take work away from it.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg.exceptions as asyncpg_errors  # type: ignore[import-untyped]  # asyncpg ships no types
import strawberry
from graphql import FragmentDefinitionNode, get_variable_values
from graphql.execution.values import VariableValues
from prometheus_client import Counter

from api.compiled.binding import ROOTS
from api.compiled.translate import Translation, Translator, structure, structure_key
from api.context import Context
from api.cost import operation_cost
from api.graphql.documents import Prepared
from domain.db import Database, Scope
from domain.reads.arguments import Arguments
from domain.reads.catalog import ENTITIES
from domain.reads.compiler import CompiledRead, NotCompilable, compile_read
from domain.reads.model import Entity
from domain.reads.selection import Const
from domain.visibility import uniform_sight

log = logging.getLogger(__name__)

ANSWERS = Counter("incidentdesk_graphql_reads_total", "GraphQL queries by the path that answered", ["path"])
# Bound once: a label lookup per request is a measurable share of an answer that needs no database.
_BY_EXECUTOR, _BY_CONSTANT, _COMPILED = (
    ANSWERS.labels(path) for path in ("executor", "constant", "compiled")
)

_NOT_COMPILABLE = object()
_NO_VARIABLES = VariableValues({}, {})


@dataclass
class _Plan:
    """An operation's translation for one structure, and its statements by (shape, sight)."""

    translation: Translation | None
    statements: dict[Any, CompiledRead | None] = field(default_factory=dict)

    @functools.cached_property
    def constant(self) -> str | None:
        """The ``data`` JSON when the tree needs no database at all (``{ __typename }``), written once."""
        if self.translation is None:
            return None
        data: dict[str, str | bool | int | None] = {}
        for key, value in self.translation.tree.fields:
            if not isinstance(value, Const):
                return None
            data[key] = value.value
        return json.dumps(data)


class CompiledReads:
    def __init__(
        self,
        schema: strawberry.Schema,
        db: Database,
        *,
        max_cost: int,
        entities: Mapping[str, Entity] = ENTITIES,
    ) -> None:
        self.schema = schema
        self.db = db
        self.max_cost = max_cost
        self.entities = entities

    async def answer(
        self,
        prepared: Prepared,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        context: Callable[[], Awaitable[Context]],
    ) -> str | None:
        """The ``data`` JSON of the query, or None for the executor to answer. ``context`` is made only
        when the answer needs the database: a constant answer needs no tenant scope."""
        if prepared.errors or not prepared.is_query(operation_name):
            return None
        # An operation without variables has one plan, found without coercing or translating anything.
        plan: _Plan | None = prepared.plans.get(("plan", operation_name))
        if plan is None:
            plan, coerced = self._plan(prepared, operation_name, variables)
            if plan is None:
                return None
        else:
            coerced = _NO_VARIABLES
        if plan.translation is None:
            _BY_EXECUTOR.inc()
            return None
        constant = plan.constant
        if constant is not None:
            _BY_CONSTANT.inc()
            return constant
        return await self._run(plan, plan.translation, coerced, await context())

    def _plan(
        self, prepared: Prepared, operation_name: str | None, variables: dict[str, Any] | None
    ) -> tuple[_Plan | None, Any]:
        """The operation's plan for these variables' structure (None when the variables are wrong or the
        query too costly: the executor says so), and the coerced variables."""
        operation = prepared.operation(operation_name)
        assert operation is not None and prepared.document is not None
        coerced = get_variable_values(
            self.schema._schema, operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):  # the executor reports the variables' errors
            return None, None
        fragments = prepared.fragments
        if self._cost(prepared, operation_name, operation, fragments, variables) > self.max_cost:
            return None, None
        structure_names = prepared.plans.get(("structure", operation_name))
        if structure_names is None:
            structure_names = prepared.plans[("structure", operation_name)] = structure(operation, fragments)
        key = (operation_name, structure_key(structure_names, coerced.coerced))
        plan: _Plan | None = prepared.plans.get(key)
        if plan is None:
            try:
                translation = Translator(
                    self.schema, self.entities, ROOTS, operation, fragments, coerced
                ).translate()
            except NotCompilable:
                translation = None
            plan = prepared.plans[key] = _Plan(translation)
        if not operation.variable_definitions:
            prepared.plans[("plan", operation_name)] = plan
        return plan, coerced

    @staticmethod
    def _cost(
        prepared: Prepared,
        operation_name: str | None,
        operation: Any,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any] | None,
    ) -> int:
        """The operation's cost; computed once for an operation without variables."""
        if operation.variable_definitions:
            return operation_cost(operation, fragments, variables or {})
        key = ("cost", operation_name)
        cost: int | None = prepared.plans.get(key)
        if cost is None:
            cost = prepared.plans[key] = operation_cost(operation, fragments, {})
        return cost

    async def _run(self, plan: _Plan, translation: Translation, variables: Any, ctx: Context) -> str | None:
        sight = uniform_sight(ctx.principal, ctx.tenant_ids)
        if sight is None:
            return None
        arguments = Arguments()
        try:
            for slot in translation.slots:
                value = await slot.bind(variables, ctx)
                getattr(arguments, f"{slot.kind}s")[slot.name] = value
        except NotCompilable:
            _BY_EXECUTOR.inc()
            return None
        shape = (arguments.shape(), sight)
        if shape not in plan.statements:
            try:
                plan.statements[shape] = compile_read(translation.tree, arguments, sight, self.entities)
            except NotCompilable:
                plan.statements[shape] = None
        statement = plan.statements[shape]
        if statement is None:
            _BY_EXECUTOR.inc()
            return None
        try:
            found = await self.db.read_json(
                Scope.of(ctx.tenant_ids), statement.sql, statement.values(arguments.binds())
            )
        except asyncpg_errors.DataError:
            # The input's fault (a NUL character in a filter...): the executor tells the client so.
            return None
        except Exception:
            # The database is unreachable, or the statement is wrong: the executor answers (and reports
            # an outage as such); a wrong statement is logged, for it is a bug to fix.
            log.exception("a compiled read failed; the executor answers instead")
            return None
        _COMPILED.inc()
        return found if found is not None else "null"
