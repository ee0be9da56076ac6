"""Live events rendered once for everyone who would see them alike.

An event reaches every subscriber whose feed accepts it, and each subscriber's operation executes its
selection set for it: field resolvers, and a read for every nested field (the incident, its service).
During an outage a thousand customers of one tenant watch the same page with the same document, so the
same answer was computed a thousand times. Subscribers with the same document, operation, variables and
sight get the same answer, so the first to execute it shares the result with the others: one execution
per event and group, not per subscriber.

Sight is everything an answer can depend on besides the event: the tenants of the request (after any
``X-Tenant`` or connection ``tenant``), the caller's role in each, its scopes, and whether it is an
operator or an OAuth client. Two subscribers share a render only if all of it is equal, so a render never
shows anyone more than their own execution would have; an anonymous viewer of a public status page
shares only with other anonymous viewers.

Events opt in: a subscription marks what it yields with ``mark_event`` and the key of the committed event
it stands for. Anything unmarked is executed per subscriber as before.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from graphql import ExecutionResult, OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.context import Context

T = TypeVar("T")

_EVENT_KEY = "_incidentdesk_event_key"
# Renders kept for subscribers still on their way to an event (a slow one catching up finds its render
# here as long as fewer than this many renders came after it).
KEPT = 4096


def mark_event(value: T, key: Hashable) -> T:
    """Mark ``value`` (about to be yielded by a subscription) as the rendering of the committed event
    ``key``, e.g. ``(tenant_id, seq)``; returns it."""
    setattr(value, _EVENT_KEY, key)
    return value


def sight_of(context: Any) -> Hashable | None:
    """What a subscriber's answers depend on besides the event; None when it is not a known context."""
    if not isinstance(context, Context):
        return None
    principal = context.principal
    if principal is None:
        return ("anonymous", context.tenant_ids)
    roles = frozenset((tenant, principal.role_in(tenant)) for tenant in context.tenant_ids)
    return (roles, principal.scopes, principal.is_operator, principal.is_client)


class Renders:
    """The renders of recent events, by (event, document, operation, variables, sight)."""

    def __init__(self, capacity: int = KEPT) -> None:
        self.capacity = capacity
        self.executions = 0
        self._results: OrderedDict[Hashable, asyncio.Future[ExecutionResult]] = OrderedDict()

    def get(self, key: Hashable) -> asyncio.Future[ExecutionResult] | None:
        return self._results.get(key)

    def keep(self, key: Hashable, result: asyncio.Future[ExecutionResult]) -> None:
        self._results[key] = result
        while len(self._results) > self.capacity:
            self._results.popitem(last=False)

        def forget_failure(done: asyncio.Future[ExecutionResult]) -> None:
            # A render that failed outright (not one with field errors, which is an answer) is not kept:
            # the next subscriber executes for itself.
            if (done.cancelled() or done.exception() is not None) and self._results.get(key) is done:
                del self._results[key]

        result.add_done_callback(forget_failure)


RENDERS = Renders()


class SharedPayloads:
    """The JSON text of shared renders, made once per render and spliced into every subscriber's message.

    A shared render hands every subscriber of its group the same ``data`` object, so a live message whose
    payload is nothing but that object is encoded as the same bytes for all of them: only the operation id
    differs, and it is written around them. A render is recognised by identity; each entry keeps its
    object alive so that the identity cannot be reused while the entry exists."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self.encodings = 0
        self._texts: OrderedDict[int, tuple[object, str]] = OrderedDict()

    def message(self, message: object, encode: Callable[[object], str]) -> str | None:
        """The text of a live message (``next`` or legacy ``data``) whose payload is only data; None for
        any other message (encoded as usual)."""
        if not isinstance(message, dict) or message.get("type") not in {"next", "data"} or len(message) != 3:
            return None
        payload, op_id = message.get("payload"), message.get("id")
        if not isinstance(payload, dict) or len(payload) != 1 or not isinstance(op_id, str):
            return None
        data = payload.get("data")
        if not isinstance(data, dict):
            return None
        kept = self._texts.get(id(data))
        if kept is None or kept[0] is not data:
            kept = (data, encode(data))
            self.encodings += 1
            self._texts[id(data)] = kept
            while len(self._texts) > self.capacity:
                self._texts.popitem(last=False)
        return f'{{"id":{encode(op_id)},"type":"{message["type"]}","payload":{{"data":{kept[1]}}}}}'


PAYLOADS = SharedPayloads()

# The executor of the subscription whose resolver is being called, in the operation's task.
SUBSCRIBING: ContextVar[SharedEventRendering | None] = ContextVar("incidentdesk.subscribing", default=None)


class SharedEventRendering(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, sharing the execution of a marked subscription event within its group.

    A subscription's per-event executor is a copy of the operation's executor with the event as its root
    value (``build_per_event_executor``); this is where its execution is looked up or made."""

    _per_event = False

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self._render_key()
        if key is None:
            return super().execute_operation(serially)
        shared = RENDERS.get(key)
        if shared is None:
            made = super().execute_operation(serially)
            if not inspect.isawaitable(made):
                return made
            RENDERS.executions += 1
            # A task of its own: the subscriber that started it leaving does not cancel it for the others.
            shared = asyncio.ensure_future(cast("Awaitable[ExecutionResult]", made))
            RENDERS.keep(key, shared)
        elif shared.done() and not shared.cancelled() and shared.exception() is None:
            # Rendered already: the answer itself, with no future to wait on.
            return shared.result()
        return asyncio.shield(shared)

    def _render_key(self) -> Hashable | None:
        event = getattr(self.root_value, _EVENT_KEY, None)
        if event is None:
            return None
        group = self.group_key()
        return None if group is None else (event, *group)

    def group_key(self) -> tuple[Hashable, ...] | None:
        """What makes two subscribers' answers alike (document, operation, variables, sight); None when
        this executor's answers are not to be shared."""
        if self.operation.operation is not OperationType.SUBSCRIPTION:
            return None
        sight = sight_of(self.context_value)
        source = self.operation.loc.source.body if self.operation.loc is not None else None
        if sight is None or source is None:
            return None
        name = self.operation.name.value if self.operation.name is not None else None
        coerced = self.variable_values.coerced if self.variable_values is not None else {}
        variables = tuple(sorted((name, repr(value)) for name, value in coerced.items()))
        return (source, name, variables, sight)

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        if isinstance(executor, SharedEventRendering):
            executor._per_event = True
        return executor

    def build_resolve_info(self, field_def: Any, field_nodes: Any, parent_type: Any, path: Any) -> Any:
        # The subscription's own resolver (its root field, before any event) is told which executor
        # subscribes it, so that it can render events for a whole group with it (``broadcast.py``).
        if (
            path.prev is None
            and not self._per_event
            and self.operation.operation is OperationType.SUBSCRIPTION
        ):
            SUBSCRIBING.set(self)
        return super().build_resolve_info(field_def, field_nodes, parent_type, path)
