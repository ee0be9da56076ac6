"""The GraphQL endpoint: authenticates each request, scopes it to the caller's tenants, and answers it.

An HTTP request is decoded here (JSON body or GET parameters, Automatic Persisted Queries resolved) and
its document prepared once per text (``api/graphql/documents.py``). A query the read model covers is
answered by one compiled SQL statement (``api/compiled/``); everything else, and every error, is
Strawberry's executor's, which receives the prepared document and the same context.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult

from api import bodies
from api.compiled.reads import CompiledReads
from api.context import Context, RequestReads
from api.graphql.documents import Prepared
from api.graphql.persisted import PersistedQueries, Refusal
from api.graphql.recent import RecentQueries
from api.graphql.shared_render import PAYLOADS
from api.limits import RATE_LIMITED, PrincipalRateLimit
from api.metrics.operations import ERROR, OK, GraphQLOperations, outcome_of
from api.quick import replaying
from api.relay import parse_id
from api.request_log import annotate_caller, annotate_operation
from api.schema import Schema
from api.status_subscribers.desk import Subscriptions
from api.tracing import Tracing
from api.ws_auth import LegacyWSHandler, TransportWSHandler
from api.ws_auth import authenticate as authenticate_ws
from api.ws_protocol import SendText, direct_sender
from auth import Authority, InvalidToken, Principal
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.directory import TenantDirectory
from domain.tenancy.service import is_slug

_PRINCIPAL = "incidentdesk.principal"
_ADMITTED = "incidentdesk.admitted"  # authenticated and counted by the rate limit: never twice
_CONTEXT = "incidentdesk.context"
_TRIED = "incidentdesk.compiled-tried"  # compiled reads declined it already
_OUTCOME = "incidentdesk.outcome"  # how the executor's answer went, for the operations metric

# The query text a persisted query's hash stood for, for the executor to read in place of the body's.
_RESOLVED_QUERY: ContextVar[str | None] = ContextVar("incidentdesk_resolved_query", default=None)


def unauthorized(description: str = "the access token is invalid or expired") -> Response:
    return JSONResponse(
        {"errors": [{"message": "invalid token", "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'},
    )


@dataclass(frozen=True)
class Incoming:
    """One GraphQL operation as the request carried it."""

    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


def _decoded(method: str, query_string: bytes, body: bytes | None) -> Incoming | None:
    """The request's operation, or None for anything the executor's own decoding must judge (GraphiQL,
    batches, malformed JSON, wrong types): its answers to those stay what they always were."""
    try:
        if method == "GET":
            params = QueryParams(query_string)
            if "query" not in params and "extensions" not in params:
                return None
            data: Any = {
                "query": params.get("query"),
                "variables": bodies.loads(params["variables"]) if params.get("variables") else None,
                "operationName": params.get("operationName"),
                "extensions": bodies.loads(params["extensions"]) if params.get("extensions") else None,
            }
        elif method == "POST" and body is not None:
            data = bodies.loads(body)
        else:
            return None
    except bodies.MalformedBody:
        return None
    if not isinstance(data, dict):
        return None
    query, variables = data.get("query"), data.get("variables")
    name, extensions = data.get("operationName"), data.get("extensions")
    if not (
        isinstance(query, str | None)
        and isinstance(variables, dict | None)
        and isinstance(name, str | None)
        and isinstance(extensions, dict | None)
    ):
        return None
    return Incoming(query, variables, name, extensions)


def _annotate_operation(prepared: Prepared, name: str | None) -> None:
    """The request log's operation: as the document names it, with its type."""
    operation = prepared.operation(name)
    if operation is None:
        annotate_operation(name, None)
    else:
        annotate_operation(operation.name.value if operation.name else name, operation.operation.value)


def _given(context: Context) -> Callable[[], Awaitable[Context]]:
    async def given() -> Context:
        return context

    return given


@dataclass(frozen=True)
class Refused:
    """An answer given before any GraphQL work: 401, 429, a persisted query's refusal."""

    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]

    def response(self) -> Response:
        return Response(
            self.body,
            status_code=self.status,
            media_type="application/json",
            headers={k.decode(): v.decode() for k, v in self.headers},
        )


def _unauthorized() -> Refused:
    response = unauthorized()
    return Refused(
        401, bytes(response.body), [(b"www-authenticate", response.headers["www-authenticate"].encode())]
    )


def _compact(data: object) -> str:
    return json.dumps(data, separators=(",", ":"))


class DirectWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's WebSocket adapter, writing each message straight to the socket when the server
    offers it (``api/ws_protocol.py``) and the ASGI way otherwise."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        text = self.view.encode_json(message)
        encoded = text if isinstance(text, bytes) else text.encode()
        if not self.send_now(encoded):
            await self.send_later(encoded)

    @functools.cached_property
    def _direct(self) -> SendText | None:
        return direct_sender(self.ws.scope)

    def send_now(self, message: bytes) -> bool:
        """Write a message (UTF-8 JSON text) now if nothing stands in the way; False when it must wait
        (``send_later``)."""
        direct = self._direct
        return direct is not None and direct(message)

    async def send_later(self, message: bytes) -> None:
        """Send a message the ASGI way, waiting for the socket to drain."""
        try:
            await self.ws.send_text(message.decode())
        except WebSocketDisconnect as gone:
            raise WebSocketDisconnected from gone


class GraphQLEndpoint(GraphQL[Context, None]):
    # Anonymous connections run only the public status; connections close when their token expires.
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = DirectWebSocketAdapter
    # Answered at the door when compiled reads cover them (``api/quick.py``).
    methods = ("GET", "POST")

    def __init__(
        self,
        schema: Schema,
        settings: Settings,
        db: Database,
        authority: Authority,
        tenants: TenantDirectory,
        *,
        operations: GraphQLOperations | None = None,
        subscriptions: Subscriptions | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        )
        self.settings = settings
        self.db = db
        self.authority = authority
        self.tenants = tenants
        self.operations = operations
        # Status page subscriptions (``subscribeToStatusPage``), shared with the page's own form.
        self.subscriptions = subscriptions
        self.documents = schema.documents
        self.persisted = PersistedQueries()
        self.compiled = (
            CompiledReads(schema, db, max_cost=settings.max_query_cost) if settings.compiled_reads else None
        )
        # The hot path's queries as they arrive (method, query string, body), decoded and prepared.
        self._queries: RecentQueries[tuple[Incoming, Prepared]] = RecentQueries()
        self.rate_limit = PrincipalRateLimit(settings.rate_limit_per_minute, settings.rate_limit_storage)
        # The open WebSockets' senders, so that a shutdown can tell each client it is going away.
        self._sockets: set[Send] = set()
        # WebSockets closed since the process started (the cycle collector's schedule follows them).
        self.closed_sockets = 0
        # Set by ``trace`` when the app traces; None costs one check per request.
        self.tracing: Tracing | None = None

    @property
    def open_sockets(self) -> int:
        return len(self._sockets)

    def trace(self, tracing: Tracing) -> None:
        """Run each HTTP operation inside a span named after it (``api/tracing.py``)."""
        self.tracing = tracing

    async def going_away(self) -> None:
        """Close every WebSocket with 1001 (going away) before the server stops: clients reconnect to
        another replica and resume with ``after``, rather than reading a restart as an error."""
        for send in list(self._sockets):
            with contextlib.suppress(Exception):  # already closed by the client: nothing to tell it
                await send({"type": "websocket.close", "code": 1001, "reason": "server shutting down"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            self._sockets.add(send)
            try:
                await super().__call__(scope, receive, send)
            finally:
                self._sockets.discard(send)
                self.closed_sockets += 1
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        request = Request(scope, receive)
        admitted = await self._admit(scope, dict(scope["headers"]))
        if isinstance(admitted, Refused):
            await admitted.response()(scope, receive, send)
            return
        principal = admitted
        state = scope.setdefault("state", {})
        body = await request.body() if request.method == "POST" else None
        if body is not None:
            receive = replaying(body)
        incoming = _decoded(request.method, scope["query_string"], body)
        context: Context | None = None
        prepared: Prepared | None = None
        # The operation's span, when traced, from the moment its document is known to the answer's end.
        with contextlib.ExitStack() as traced:
            if incoming is not None:
                text = self.persisted.resolve(incoming.query, incoming.extensions)
                if isinstance(text, Refusal):
                    await JSONResponse(text.body(), status_code=text.status)(scope, receive, send)
                    return
                _RESOLVED_QUERY.set(text)
                context = await self._context(principal, request.headers.get("x-tenant"), request)
                if text is not None:
                    prepared = self.documents.prepare(text)
                    _annotate_operation(prepared, incoming.operation_name)
                    if self.tracing is not None:
                        traced.enter_context(self.tracing.operation(scope, prepared, incoming.operation_name))
                    if prepared.is_query(incoming.operation_name):
                        context.reads = RequestReads(self.db, context.scope)
                        if self.compiled is not None and not state.get(_TRIED):
                            data = await self.compiled.answer(
                                prepared, incoming.operation_name, incoming.variables, _given(context)
                            )
                            if data is not None:
                                response = Response(
                                    b'{"data":' + data.encode() + b"}", media_type="application/json"
                                )
                                await response(scope, receive, send)
                                self._count(prepared, incoming, OK, started)
                                return
                state[_CONTEXT] = context
            try:
                await super().__call__(scope, receive, send)
                if incoming is not None and prepared is not None:
                    # No outcome: the executor's view refused the request before executing (a mutation
                    # over GET, say).
                    self._count(prepared, incoming, state.get(_OUTCOME, ERROR), started)
            finally:
                if context is not None and context.reads is not None:
                    with contextlib.suppress(
                        Exception
                    ):  # the answer is sent; a read-only commit cannot matter
                        await context.reads.close()

    def _count(self, prepared: Prepared, incoming: Incoming, outcome: str, started: float) -> None:
        if self.operations is not None:
            self.operations.record(prepared, incoming.operation_name, outcome, time.perf_counter() - started)

    async def process_result(self, request: Request, result: ExecutionResult) -> Any:
        """The executor's answer as Strawberry renders it; its outcome is noted for the metrics."""
        request.scope.setdefault("state", {})[_OUTCOME] = outcome_of(result)
        return await super().process_result(request, result)

    async def _admit(self, scope: Scope, headers: dict[bytes, bytes]) -> Principal | Refused | None:
        """Who calls, and whether the rate limit lets them: once per request, whichever path asks first."""
        state = scope.setdefault("state", {})
        if _ADMITTED in state:
            admitted: Principal | None = state[_PRINCIPAL]
            return admitted
        authorization = headers.get(b"authorization")
        try:
            principal = await self.authority.authenticate(
                authorization.decode("latin-1") if authorization is not None else None
            )
        except InvalidToken:
            return _unauthorized()
        allowed, retry_after = await self.rate_limit.admit(principal, scope.get("client"))
        if not allowed:
            return Refused(429, RATE_LIMITED, [(b"retry-after", str(retry_after).encode())])
        state[_PRINCIPAL] = principal
        state[_ADMITTED] = True
        annotate_caller(principal)
        return principal

    async def quick_answer(
        self, scope: Scope, headers: dict[bytes, bytes], body: bytes
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        """The answer to a query compiled reads cover, or None for the whole stack to answer
        (``api/quick.py``)."""
        started = time.perf_counter()
        admitted = await self._admit(scope, headers)
        if isinstance(admitted, Refused):
            return admitted.status, admitted.body, admitted.headers
        if self.compiled is None:
            return None
        request_key = (scope["method"], scope["query_string"], body)
        recalled = self._queries.get(request_key)
        if recalled is None:
            incoming = _decoded(
                scope["method"], scope["query_string"], body if scope["method"] == "POST" else None
            )
            if incoming is None:
                return None
            text = self.persisted.resolve(incoming.query, incoming.extensions)
            if isinstance(text, Refusal):
                return text.status, json.dumps(text.body()).encode(), []
            if text is None:
                return None
            prepared = self.documents.prepare(text)
            if not prepared.is_query(incoming.operation_name):
                return None
            recalled = self._queries.put(request_key, (incoming, prepared))
        incoming, prepared = recalled
        _annotate_operation(prepared, incoming.operation_name)
        scope["state"][_TRIED] = True
        tenant = headers.get(b"x-tenant")

        async def context() -> Context:
            return await self._context(admitted, tenant.decode("latin-1") if tenant is not None else None)

        if self.tracing is None:
            data = await self.compiled.answer(prepared, incoming.operation_name, incoming.variables, context)
        else:
            with self.tracing.operation(scope, prepared, incoming.operation_name) as span:
                data = await self.compiled.answer(
                    prepared, incoming.operation_name, incoming.variables, context
                )
                if data is None:  # the executor answers it in the stack, in this same span
                    self.tracing.hand_on(scope, span)
        if data is None:
            return None
        self._count(prepared, incoming, OK, started)
        return 200, b'{"data":' + data.encode() + b"}", []

    def encode_json(self, data: object) -> str:
        # A live message of a shared render is spliced around the render's text, made once for its group.
        shared = PAYLOADS.message(data, _compact)
        return shared if shared is not None else _compact(data)

    def decode_json(self, data: str | bytes) -> object:
        """Hostile JSON (nested 200000 deep, a 5000-digit number, invalid UTF-8) is a malformed request:
        400 over HTTP, and the protocol's own close over WebSocket, never a fault."""
        try:
            return bodies.loads(data)
        except bodies.MalformedBody as error:
            raise json.JSONDecodeError(str(error), "", 0) from None

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> Any:
        """JSON that is not an object (a string, a number, null) is a malformed request: 400, not a crash.
        A persisted query's text stands in for the body's missing one."""
        if request.method == "POST" and "application/json" in (request.content_type or ""):
            if not isinstance(self.parse_json(await request.get_body()), dict | list):
                raise HTTPException(400, "The request body must be a JSON object")
        parsed = await super().parse_http_body(request)
        resolved = _RESOLVED_QUERY.get()
        if isinstance(parsed, GraphQLRequestData) and parsed.query is None and resolved is not None:
            return replace(parsed, query=resolved)
        return parsed

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        prepared: Context | None = request.scope.get("state", {}).get(_CONTEXT)
        if prepared is not None:
            prepared.request, prepared.response = request, response
            return prepared
        principal: Principal | None = request.scope.get("state", {}).get(_PRINCIPAL)
        context = await self._context(principal, request.headers.get("x-tenant"), request)
        context.response = response
        return context

    async def _context(
        self, principal: Principal | None, narrowed_to: str | None, request: Request | WebSocket | None = None
    ) -> Context:
        tenant_ids = await self._tenant_scope(principal, narrowed_to)
        annotate_caller(principal, tenant_ids)
        return Context(
            settings=self.settings,
            db=self.db,
            principal=principal,
            tenant_ids=tenant_ids,
            request=request,
            tenants=self.tenants,
            subscriptions=self.subscriptions,
        )

    async def _tenant_scope(
        self, principal: Principal | None, narrowed_to: str | None
    ) -> frozenset[uuid.UUID]:
        if principal is None:
            return frozenset()
        tenants = principal.tenant_ids
        if narrowed_to:
            # A slug as clients write it (lowercase) needs no base64 decoding tried first; a global ID is
            # never one (its base64 starts with an upper-case letter).
            parsed = None if is_slug(narrowed_to) else parse_id(narrowed_to)
            chosen: uuid.UUID | None
            if parsed is not None and parsed[0] == "Tenant":
                chosen = parsed[1]
            else:
                chosen = await self.tenants.id_of(narrowed_to)
            tenants = tenants & {chosen} if chosen else frozenset()
        return tenants

    async def on_ws_connect(self, context: Context) -> Any:
        """The token travels in connection_init's payload; a bad one closes the socket. Without one the
        connection is anonymous and may only run the public status (api/ws_auth.py)."""
        params = context.connection_params or {}
        header = params.get("authorization") or params.get("Authorization")
        if header is None:
            context.principal = None
            context.tenant_ids = frozenset()
            return None
        # The payload's types were checked as it arrived (api/ws_auth.init_payload_problem).
        try:
            principal, context.expires_at = await authenticate_ws(self.authority, header)
        except InvalidToken:
            raise ConnectionRejectionError({"message": "invalid token"}) from None
        context.principal = principal
        tenant = params.get("tenant")
        context.tenant_ids = await self._tenant_scope(principal, tenant)
        annotate_caller(principal, context.tenant_ids)
        scope = context.tenant_ids

        async def still_entitled() -> bool:
            # The caches were just cleared: this reads the memberships and tenants as they are now.
            try:
                now, _ = await authenticate_ws(self.authority, header)
            except InvalidToken:
                return False
            return now == principal and await self._tenant_scope(now, tenant) == scope

        context.still_entitled = still_entitled
        context.access = self.authority.access
        return None
