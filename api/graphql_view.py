"""The GraphQL endpoint: authenticates each request, scopes it to the caller's tenants, builds its context."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from api import bodies
from api.context import Context
from api.limits import PrincipalRateLimit, too_many_requests
from api.relay import parse_id
from api.ws_auth import LegacyWSHandler, TransportWSHandler
from api.ws_auth import authenticate as authenticate_ws
from auth import Authority, InvalidToken, Principal
from domain.db import Database
from domain.db import Scope as DbScope
from domain.settings import Settings
from domain.tenancy.models import Tenant
from domain.tenancy.service import is_slug

_PRINCIPAL = "incidentdesk.principal"


def unauthorized(description: str = "the access token is invalid or expired") -> Response:
    return JSONResponse(
        {"errors": [{"message": "invalid token", "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'},
    )


class GraphQLEndpoint(GraphQL[Context, None]):
    # Anonymous connections run only the public status; connections close when their token expires.
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, schema: BaseSchema, settings: Settings, db: Database, authority: Authority) -> None:
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
        self.rate_limit = PrincipalRateLimit(settings.rate_limit_per_minute, settings.rate_limit_storage)
        # The open WebSockets' senders, so that a shutdown can tell each client it is going away.
        self._sockets: set[Send] = set()

    async def going_away(self) -> None:
        """Close every WebSocket with 1001 (going away) before the server stops: clients reconnect to
        another replica and resume with ``after``, rather than reading a restart as an error."""
        for send in list(self._sockets):
            try:
                await send({"type": "websocket.close", "code": 1001, "reason": "server shutting down"})
            except Exception:  # already closed by the client: nothing to tell it
                pass

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            self._sockets.add(send)
            try:
                await super().__call__(scope, receive, send)
            finally:
                self._sockets.discard(send)
            return
        if scope["type"] == "http":
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
            scope.setdefault("state", {})[_PRINCIPAL] = principal
        await super().__call__(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        """Hostile JSON (nested 200000 deep, a 5000-digit number, invalid UTF-8) is a malformed request:
        400 over HTTP, and the protocol's own close over WebSocket, never a fault."""
        try:
            return bodies.loads(data)
        except bodies.MalformedBody as error:
            raise json.JSONDecodeError(str(error), "", 0) from None

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> Any:
        """JSON that is not an object (a string, a number, null) is a malformed request: 400, not a crash."""
        if request.method == "POST" and "application/json" in (request.content_type or ""):
            if not isinstance(self.parse_json(await request.get_body()), dict | list):
                raise HTTPException(400, "The request body must be a JSON object")
        return await super().parse_http_body(request)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        principal: Principal | None = request.scope.get("state", {}).get(_PRINCIPAL)
        tenant_ids = await self._tenant_scope(principal, request.headers.get("x-tenant"))
        return Context(
            settings=self.settings,
            db=self.db,
            principal=principal,
            tenant_ids=tenant_ids,
            request=request,
            response=response,
        )

    async def _tenant_scope(
        self, principal: Principal | None, narrowed_to: str | None
    ) -> frozenset[uuid.UUID]:
        if principal is None:
            return frozenset()
        tenants = principal.tenant_ids
        if narrowed_to is not None and not isinstance(narrowed_to, str):
            return frozenset()  # a WebSocket's connection params may carry anything
        if narrowed_to:
            parsed = parse_id(narrowed_to)
            if parsed is not None and parsed[0] == "Tenant":
                chosen: uuid.UUID | None = parsed[1]
            elif not is_slug(narrowed_to.lower()):
                chosen = None
            else:
                async with self.db.transaction(DbScope()) as session:
                    chosen = await session.scalar(select(Tenant.id).where(Tenant.slug == narrowed_to.lower()))
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
        context.tenant_ids = await self._tenant_scope(principal, params.get("tenant"))
        return None
