"""GraphQL operations by name, type and outcome: what a dashboard of the API is drawn from.

An operation name is the client's to choose, so it is a label only while the process has seen fewer than
``MAX_NAMES`` distinct ones (the application's own documents, in practice); later names, and names too
long to be anyone's query, count as ``other``. An operation without a name is ``anonymous``. Tenants and
variables never appear.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from strawberry.types import ExecutionResult

from api.graphql.documents import Prepared

MAX_NAMES = 200
MAX_NAME_LENGTH = 100

# The outcomes of an operation that was executed (or answered by compiled reads).
OK = "ok"
REFUSED = "refused"  # a mutation answered with userErrors: a rule of the domain said no
ERROR = "error"  # GraphQL errors: invalid document, forbidden, a fault


def outcome_of(result: ExecutionResult) -> str:
    """``error`` when the answer carries errors, ``refused`` when a payload carries userErrors."""
    if result.errors:
        return ERROR
    data: Any = result.data
    if isinstance(data, dict) and any(
        isinstance(payload, dict) and payload.get("userErrors") for payload in data.values()
    ):
        return REFUSED
    return OK


class OperationNames:
    """The bounded set of names used as labels: first seen, first kept, up to ``limit``."""

    def __init__(self, limit: int = MAX_NAMES) -> None:
        self.limit = limit
        self._known: set[str] = set()

    def label(self, name: str | None) -> str:
        if name is None:
            return "anonymous"
        if name in self._known:
            return name
        if len(name) > MAX_NAME_LENGTH or len(self._known) >= self.limit:
            return "other"
        self._known.add(name)
        return name


class GraphQLOperations:
    """Counts and times every GraphQL operation answered over HTTP."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.names = OperationNames()
        self.total = Counter(
            "incidentdesk_graphql_operations_total",
            "GraphQL operations answered over HTTP, by operation name, type and outcome",
            ["operation", "type", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "incidentdesk_graphql_operation_duration_seconds",
            "Time to answer a GraphQL operation over HTTP, by operation name and type",
            ["operation", "type"],
            registry=registry,
        )

    def record(self, prepared: Prepared | None, requested: str | None, outcome: str, seconds: float) -> None:
        """One operation: the one ``requested`` by name in the prepared document (or its only one)."""
        operation = prepared.operation(requested) if prepared is not None else None
        if operation is None:
            # The document does not parse or does not have the operation asked for.
            name, kind = "unknown", "unknown"
        else:
            name = self.names.label(operation.name.value if operation.name is not None else None)
            kind = operation.operation.value
        self.total.labels(name, kind, outcome).inc()
        self.duration.labels(name, kind).observe(seconds)
