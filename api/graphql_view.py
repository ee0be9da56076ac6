"""The GraphQL endpoint: authenticates each request, scopes it to the caller's tenants, and answers it.

An HTTP request is decoded here (JSON body or GET parameters, Automatic Persisted Queries resolved) and
its document prepared once per text (``api/graphql/documents.py``). A query the read model covers is
answered by one compiled SQL statement (``api/compiled/``); everything else, and every error, is
Strawberry's executor's, which receives the prepared document and the same context.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from api import bodies
from api.compiled.reads import CompiledReads
from api.context import Context, RequestReads
from api.graphql.persisted import PersistedQueries, Refusal
from api.limits import PrincipalRateLimit, too_many_requests
from api.relay import parse_id
from api.schema import Schema
from api.ws_auth import LegacyWSHandler, TransportWSHandler
from api.ws_auth import authenticate as authenticate_ws
from auth import Authority, InvalidToken, Principal
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.directory import TenantDirectory

_PRINCIPAL = "incidentdesk.principal"
_CONTEXT = "incidentdesk.context"

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


def _decoded(request: Request, body: bytes | None) -> Incoming | None:
    """The request's operation, or None for anything the executor's own decoding must judge (GraphiQL,
    batches, malformed JSON, wrong types): its answers to those stay what they always were."""
    try:
        if request.method == "GET":
            params = request.query_params
            if "query" not in params and "extensions" not in params:
                return None
            data: Any = {
                "query": params.get("query"),
                "variables": bodies.loads(params["variables"]) if params.get("variables") else None,
                "operationName": params.get("operationName"),
                "extensions": bodies.loads(params["extensions"]) if params.get("extensions") else None,
            }
        elif request.method == "POST" and body is not None:
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


def _replaying(body: bytes) -> Receive:
    """A receive channel that hands the executor the body this endpoint already read."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


class GraphQLEndpoint(GraphQL[Context, None]):
    # Anonymous connections run only the public status; connections close when their token expires.
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(
        self,
        schema: Schema,
        settings: Settings,
        db: Database,
        authority: Authority,
        tenants: TenantDirectory,
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
        self.documents = schema.documents
        self.persisted = PersistedQueries()
        self.compiled = (
            CompiledReads(schema, db, max_cost=settings.max_query_cost) if settings.compiled_reads else None
        )
        self.rate_limit = PrincipalRateLimit(settings.rate_limit_per_minute, settings.rate_limit_storage)
        # The open WebSockets' senders, so that a shutdown can tell each client it is going away.
        self._sockets: set[Send] = set()

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
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            principal = await self.authority.authenticate(request.headers.get("authorization"))
        except InvalidToken:
            await unauthorized()(scope, receive, send)
            return
        who = (
            f"{principal.issuer} {principal.subject}"
            if principal
            else f"ip {request.client and request.client.host}"
        )
        allowed, retry_after = await self.rate_limit.allow(who)
        if not allowed:
            await too_many_requests(retry_after)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state[_PRINCIPAL] = principal
        body = await request.body() if request.method == "POST" else None
        if body is not None:
            receive = _replaying(body)
        incoming = _decoded(request, body)
        context: Context | None = None
        if incoming is not None:
            text = self.persisted.resolve(incoming.query, incoming.extensions)
            if isinstance(text, Refusal):
                await JSONResponse(text.body(), status_code=text.status)(scope, receive, send)
                return
            _RESOLVED_QUERY.set(text)
            context = await self._context(request, principal)
            if text is not None:
                prepared = self.documents.prepare(text)
                if prepared.is_query(incoming.operation_name):
                    context.reads = RequestReads(self.db, context.scope)
                    if self.compiled is not None:
                        data = await self.compiled.answer(
                            prepared, incoming.operation_name, incoming.variables, context
                        )
                        if data is not None:
                            response = Response(
                                b'{"data":' + data.encode() + b"}", media_type="application/json"
                            )
                            await response(scope, receive, send)
                            return
            state[_CONTEXT] = context
        try:
            await super().__call__(scope, receive, send)
        finally:
            if context is not None and context.reads is not None:
                with contextlib.suppress(Exception):  # the answer is sent; a read-only commit cannot matter
                    await context.reads.close()

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
        context = await self._context(request, principal)
        context.response = response
        return context

    async def _context(self, request: Request | WebSocket, principal: Principal | None) -> Context:
        return Context(
            settings=self.settings,
            db=self.db,
            principal=principal,
            tenant_ids=await self._tenant_scope(principal, request.headers.get("x-tenant")),
            request=request,
            tenants=self.tenants,
        )

    async def _tenant_scope(
        self, principal: Principal | None, narrowed_to: str | None
    ) -> frozenset[uuid.UUID]:
        if principal is None:
            return frozenset()
        tenants = principal.tenant_ids
        if narrowed_to:
            parsed = parse_id(narrowed_to)
            if parsed is not None and parsed[0] == "Tenant":
                chosen: uuid.UUID | None = parsed[1]
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
        if not isinstance(header, str):
            raise ConnectionRejectionError({"message": "authentication required"})
        try:
            principal, context.expires_at = await authenticate_ws(self.authority, header)
        except InvalidToken:
            raise ConnectionRejectionError({"message": "invalid token"}) from None
        context.principal = principal
        tenant = params.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise ConnectionRejectionError({"message": "tenant must be a slug or a global ID"})
        context.tenant_ids = await self._tenant_scope(principal, tenant)
        return None
