"""Who may do what on a GraphQL WebSocket, for both subprotocols (graphql-transport-ws and graphql-ws).

- The token travels in ``connection_init``'s payload as ``{"authorization": "Bearer <jwt>"}``. An invalid
  one is refused by the protocol itself: graphql-transport-ws closes with 4403 Forbidden; the legacy
  graphql-ws answers ``connection_error`` and closes.
- Without a token the connection is anonymous: it may only run the public status (``publicStatusChanged``
  and ``publicStatus``). Any other operation closes it with 4401 Unauthorized, the code both protocols
  use for an operation started without authentication.
- A ``subscribe``/``start`` before ``connection_init`` is refused by Strawberry's handlers (4401) and never
  runs; the tests hold the installed release to that.
- An authenticated connection closes with 4403 (reason "token expired") when its token expires: every
  running operation is stopped first, so nothing is sent on behalf of an expired token.
- It closes the same way (reason "access changed") when the caller's rights change while it is open: a
  membership removed or downgraded, a client or key revoked. Every access notice makes each connection
  read its caller's rights again; a connection never goes on with rights its caller no longer has.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import datetime
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, parse
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage as LegacyInitMessage
from strawberry.subscriptions.protocols.graphql_ws.types import StartMessage

from api.context import Context
from api.cost import operation_cost
from api.graphql.broadcast import LIVE_OPERATION, LiveOperation
from api.request_log import operation_logged
from auth import Authority, InvalidToken, Principal
from domain.columns import utcnow

log = logging.getLogger(__name__)

# Root fields an anonymous connection may select.
PUBLIC_FIELDS = frozenset({"publicStatusChanged", "publicStatus", "__typename"})

UNAUTHORIZED = (4401, "Unauthorized")
EXPIRED = (4403, "Forbidden: token expired")
# The caller's memberships, roles or token changed while connected: the client reconnects with the rights
# it has now (none, if the token was revoked).
ACCESS_CHANGED = (4403, "Forbidden: access changed")


async def authenticate(authority: Authority, header: str) -> tuple[Principal, datetime]:
    """The principal of a bearer token and when the token expires; InvalidToken for anything else."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("malformed authorization header")
    return await authority.authenticated(token.strip())


def anonymous_may_run(payload: Any) -> bool:
    """Whether an anonymous connection may run this operation: only public root fields."""
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return True  # malformed: the protocol handler refuses it on its own terms
    try:
        document = parse(payload["query"])
    except GraphQLError:
        return True  # a syntax error, answered as such
    name = payload.get("operationName")
    operations = [
        d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode) and (not name or (d.name and d.name.value == name))
    ]
    if len(operations) != 1:
        return True  # no such operation: execution refuses it without resolving anything
    return all(
        isinstance(selection, FieldNode) and selection.name.value in PUBLIC_FIELDS
        for selection in operations[0].selection_set.selections
    )


def init_payload_problem(payload: Any) -> str | None:
    """What is wrong with a ``connection_init`` payload, in words for the close reason; None when it is
    well formed (a missing payload is an anonymous connection). Checked before anything reads it."""
    if payload is None:
        return None
    if not isinstance(payload, dict):
        return "Invalid connection init payload: an object is expected"
    for name in ("authorization", "Authorization", "tenant"):
        if name in payload and not isinstance(payload[name], str):
            return f"Invalid connection init payload: {name} must be a string"
    return None


MALFORMED_INIT = 4400


def _seconds_left(context: Context) -> float | None:
    if context.principal is None or context.expires_at is None:
        return None
    return max(0.0, (context.expires_at - utcnow()).total_seconds())


class _ConnectionPolicy:
    """What both subprotocols' handlers add: anonymous connections run public operations only, and a
    connection ends when its token expires. The handlers differ only in how they stop operations."""

    context: Context
    connection_acknowledged: bool
    websocket: Any
    # The endpoint serving the connection (GraphQLEndpoint): its rate limit and prepared documents.
    view: Any
    # A timer rather than a sleeping task: one per connection, for thousands of idle connections.
    expiry: asyncio.TimerHandle | None = None
    expiring: asyncio.Task[None] | None = None
    recheck: asyncio.Task[None] | None = None

    def _watch_expiry(self) -> None:
        left = _seconds_left(self.context)
        if self.connection_acknowledged and left is not None:
            self.expiry = asyncio.get_running_loop().call_later(left, self._expire)
        if self.connection_acknowledged and self.context.access is not None:
            self.context.access.watch(self._access_changed)

    def _access_changed(self) -> None:
        """An access notice: check the caller's rights again (one check at a time; a notice arriving
        during a check is covered by it, since the check reads after the caches were cleared)."""
        if self.recheck is None or self.recheck.done():
            self.recheck = asyncio.create_task(self._check_access())

    async def _check_access(self) -> None:
        entitled = self.context.still_entitled
        if entitled is None:
            return
        try:
            still = await entitled()
        except Exception as error:
            # The database is away (the notice may be the LISTEN connection dropping): the check runs
            # again on the next notice, which its reconnection sends.
            log.warning(
                "checking a WebSocket caller's rights failed (%s); checking on the next notice", error
            )
            return
        if not still:
            await self._stop_operations()
            await self.websocket.close(*ACCESS_CHANGED)

    async def _admission_error(self, payload: Any) -> GraphQLError | None:
        """Why an operation sent over this connection may not start, as over HTTP: the caller's rate limit
        (every operation counts, as every request does) and the query cost budget (a subscription's
        selection is resolved on every event, so it is priced like a query's). None: it may start."""
        view = self.view
        allowed, retry_after = await view.rate_limit.admit(
            self.context.principal, getattr(self.websocket, "client", None)
        )
        if not allowed:
            return GraphQLError(
                "rate limit exceeded", extensions={"code": "LIMIT_EXCEEDED", "retryAfter": retry_after}
            )
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return None  # malformed: the protocol handler refuses it on its own terms
        prepared = view.documents.prepare(payload["query"])
        name = payload.get("operationName")
        operation = prepared.operation(name if isinstance(name, str) else None)
        if prepared.errors or operation is None:
            return None  # execution reports the document's errors
        variables = payload.get("variables")
        cost = operation_cost(operation, prepared.fragments, variables if isinstance(variables, dict) else {})
        budget = self.context.settings.max_query_cost
        if cost > budget:
            return GraphQLError(
                f"query cost {cost} exceeds the budget of {budget}; ask for smaller pages",
                extensions={"code": "LIMIT_EXCEEDED", "cost": cost, "budget": budget},
            )
        return None

    def _operation_of(self, query: str, name: str | None) -> tuple[str | None, str | None]:
        """The operation's name and type for its log line (the document is prepared already: admission
        priced it)."""
        operation = self.view.documents.prepare(query).operation(name)
        if operation is None:
            return name, None
        return (operation.name.value if operation.name else name), operation.operation.value

    def _refuses(self, payload: Any) -> bool:
        return (
            self.connection_acknowledged and self.context.principal is None and not anonymous_may_run(payload)
        )

    def _stop_watching(self) -> None:
        if self.context.access is not None:
            self.context.access.unwatch(self._access_changed)
        if self.expiry is not None:
            self.expiry.cancel()
        for task in (self.expiring, self.recheck):
            if task is not None and task is not asyncio.current_task():
                task.cancel()

    def _expire(self) -> None:
        self.expiring = asyncio.create_task(self._end_expired())

    async def _end_expired(self) -> None:
        await self._stop_operations()
        await self.websocket.close(*EXPIRED)

    async def _stop_operations(self) -> None:
        raise NotImplementedError


class TransportWSHandler(_ConnectionPolicy, BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        problem = init_payload_problem(message.get("payload"))
        if problem is not None and not self.connection_init_received:
            await self.websocket.close(code=MALFORMED_INIT, reason=problem)
            return
        await super().handle_connection_init(message)
        # The wait for this message, cancelled by it, would otherwise be kept for the connection's life
        # with its CancelledError, traceback and frames.
        self.connection_init_timeout_task = None
        self._watch_expiry()

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self._refuses(message.get("payload")):
            await self.websocket.close(*UNAUTHORIZED)
            return
        if self.connection_acknowledged and message.get("id") not in self.operations:
            error = await self._admission_error(message.get("payload"))
            if error is not None:
                await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
                return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        name, kind = self._operation_of(operation.query, operation.operation_name)
        LIVE_OPERATION.set(LiveOperation(operation.id, "next", self.websocket))
        async with operation_logged(operation.id, name, kind):
            await super().run_operation(operation)

    async def shutdown(self) -> None:
        self._stop_watching()
        await super().shutdown()

    async def _stop_operations(self) -> None:
        tasks = [op.task for op in self.operations.values() if op.task]
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        for task in tasks:
            with suppress(BaseException):
                await task


class LegacyWSHandler(_ConnectionPolicy, BaseGraphQLWSHandler[Context, None]):
    async def handle_connection_init(self, message: LegacyInitMessage) -> None:
        problem = init_payload_problem(message.get("payload"))
        if problem is not None:
            # The legacy protocol's own refusal, then the same close as the current protocol's.
            await self.send_message({"type": "connection_error", "payload": {"message": problem}})
            await self.websocket.close(code=MALFORMED_INIT, reason=problem)
            return
        await super().handle_connection_init(message)
        self._watch_expiry()

    async def handle_start(self, message: StartMessage) -> None:
        if self._refuses(message.get("payload")):
            await self.websocket.close(*UNAUTHORIZED)
            return
        if self.connection_acknowledged and message.get("id") not in self.tasks:
            error = await self._admission_error(message.get("payload"))
            if error is not None:
                await self.send_message({"type": "error", "id": message["id"], "payload": error.formatted})
                return
        await super().handle_start(message)

    async def handle_async_results(
        self, operation_id: str, query: str, operation_name: str | None, variables: dict[str, object] | None
    ) -> None:
        name, kind = self._operation_of(query, operation_name)
        LIVE_OPERATION.set(LiveOperation(operation_id, "data", self.websocket))
        async with operation_logged(operation_id, name, kind):
            await super().handle_async_results(operation_id, query, operation_name, variables)

    async def cleanup(self) -> None:
        self._stop_watching()
        await super().cleanup()

    async def _stop_operations(self) -> None:
        for operation_id in list(self.tasks):
            await self.cleanup_operation(operation_id)
