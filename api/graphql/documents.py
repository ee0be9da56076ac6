"""Documents prepared once: parsed, checked against every static limit, and validated, per query text.

Portals send the same few documents all day. Preparing one (parsing, the limits, graphql-core's
validation) costs far more than executing a small query, so each distinct text is prepared once and kept
in a bounded LRU; both ways of answering (compiled reads and Strawberry's executor, through
``PreparedDocuments``) use the prepared form.

The limits run before validation and are linear in the document's size: validation's check that fields
can be merged is quadratic in fields sharing one name in one selection, so a document repeating a field
past ``MAX_REPEATS`` times in one selection, or holding more than ``MAX_SELECTIONS`` fields, is refused
before that check runs.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
    specified_rules,
    validate,
)
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.schema import validate_document

from domain.settings import Settings

MAX_DOCUMENTS = 2_000  # distinct query texts kept prepared
MAX_SELECTIONS = 2_000  # fields in one document, fragments counted where they are defined
MAX_REPEATS = 25  # fields of one response name in one selection, fragments included


@dataclass
class Prepared:
    """A query text, parsed and validated. ``errors`` is empty when the document may execute. The other
    fields are caches of work the answering paths do once per document (``plans``: compiled reads)."""

    text: str
    document: DocumentNode | None
    errors: list[GraphQLError]
    plans: dict[Any, Any] = field(default_factory=dict)

    @functools.cached_property
    def fragments(self) -> dict[str, FragmentDefinitionNode]:
        return fragments_of(self.document) if self.document is not None else {}

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        """The operation to run: the one named, or the only one."""
        if self.document is None:
            return None
        operations = [d for d in self.document.definitions if isinstance(d, OperationDefinitionNode)]
        if name is None:
            return operations[0] if len(operations) == 1 else None
        return next((o for o in operations if o.name is not None and o.name.value == name), None)

    def is_query(self, name: str | None) -> bool:
        operation = self.operation(name)
        return operation is not None and operation.operation is OperationType.QUERY


class Documents:
    """The process's prepared documents, for one schema and its limits."""

    def __init__(self, schema: GraphQLSchema, settings: Settings) -> None:
        self.schema = schema
        self.max_tokens = settings.max_tokens
        self.rules = (
            *specified_rules,
            depth_rule(settings.max_query_depth, None, None),
            aliases_rule(settings.max_aliases),
        )
        self._prepared: LRUCache[str, Prepared] = LRUCache(maxsize=MAX_DOCUMENTS)

    def prepare(self, text: str) -> Prepared:
        prepared = self._prepared.get(text)
        if prepared is None:
            prepared = self._prepare(text)
            self._prepared[text] = prepared
        return prepared

    def _prepare(self, text: str) -> Prepared:
        try:
            document = parse(text, max_tokens=self.max_tokens)
        except GraphQLError as error:
            return Prepared(text, None, [error])
        refused = _oversized(document)
        if refused is not None:
            return Prepared(text, document, [refused])
        try:
            errors = validate_document(self.schema, document, self.rules)
        except Exception:  # a rule that trips over an odd document: the document's fault, say so
            errors = [
                GraphQLError("the document could not be validated", extensions={"code": "BAD_USER_INPUT"})
            ]
        return Prepared(text, document, list(errors))


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """The document's fragment definitions by name."""
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _oversized(document: DocumentNode) -> GraphQLError | None:
    """The first linear limit the document breaks, if any (see the module's docstring), or an empty
    selection, which the grammar forbids."""
    fragments = fragments_of(document)
    for node in _selection_sets(document):
        if not node.selections:  # the grammar asks for one at least; graphql-core's parser lets it pass
            return GraphQLError("Syntax Error: a selection set selects at least one field", nodes=[node])
    fields = sum(1 for _ in _fields(document))
    if fields > MAX_SELECTIONS:
        return _limit(f"the document selects {fields} fields; at most {MAX_SELECTIONS}")
    keys_of: dict[str, Counter[str]] = {}

    def keys(selections: SelectionSetNode | None, seen: frozenset[str]) -> Counter[str]:
        """Response names a selection set holds, with fragments' own top-level names folded in."""
        counted: Counter[str] = Counter()
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                counted[(selection.alias or selection.name).value] += 1
            elif isinstance(selection, InlineFragmentNode):
                counted.update(keys(selection.selection_set, seen))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in seen:  # cycles are validation's to report
                    if name not in keys_of:
                        keys_of[name] = keys(fragments[name].selection_set, seen | {name})
                    counted.update(keys_of[name])
        return counted

    for node in _selection_sets(document):
        for key, count in keys(node, frozenset()).items():
            if count > MAX_REPEATS:
                return _limit(f"{count} fields named {key!r} in one selection; at most {MAX_REPEATS}")
    return None


def _limit(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "LIMIT_EXCEEDED"})


def _selection_sets(document: DocumentNode) -> Iterator[SelectionSetNode]:
    pending: list[Any] = list(document.definitions)
    while pending:
        node = pending.pop()
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            yield selection_set
            pending.extend(selection_set.selections)


def _fields(document: DocumentNode) -> Iterator[FieldNode]:
    for selection_set in _selection_sets(document):
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection


class PreparedDocuments(SchemaExtension):
    """Strawberry's executor takes the prepared document: no parsing or validation per request.

    The limits are the prepared document's; Strawberry's own limiter extensions are not installed."""

    def __init__(self, documents: Documents) -> None:
        self.documents = documents

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is None:
            prepared = self.documents.prepare(context.query)
            if prepared.document is None:
                raise prepared.errors[0]
            context.graphql_document = prepared.document
            errors = list(prepared.errors)
            # Rules an extension adds for this request only (introspection refused to anonymous callers)
            # run on top of the prepared validation.
            added = [rule for rule in context.validation_rules if rule not in specified_rules]
            if added and not errors:
                errors = validate(self.documents.schema, prepared.document, added)
            # Validation is done: Strawberry runs none when errors are set, even to an empty list.
            context.pre_execution_errors = errors
        yield
