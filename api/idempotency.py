"""``Idempotency-Key`` on GraphQL mutations (pure ASGI middleware), after the IETF draft
"The Idempotency-Key HTTP Header Field".

Only a POST to the GraphQL path that carries the header and whose operation is a mutation is concerned;
everything else passes through untouched. The key is scoped to the authenticated principal (issuer,
subject) and kept ``idempotency_ttl_seconds`` (24 h):

- first use: the request runs and its response is stored;
- the same key with the same request (operation, variables, operation name, X-Tenant): the stored
  response is replayed, with ``Idempotent-Replayed: true``, and nothing runs again;
- the same key with a different request: 422;
- the same key while the first request still runs: 409 at once (no waiting), with ``Retry-After``;
  the client retries and then gets the replay;
- a first request that failed without an answer (a server error) frees its key for a retry, and so does
  one the server never ran (401, 413, 429 and the like): only a 2xx answer is kept;
- the caller's rights are part of the request: a token with other scopes (or a principal whose roles
  changed) replaying the key is a different request (422), never handed an answer it may not read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from datetime import timedelta
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import bodies
from api.errors import reports_a_fault
from auth import Authority, InvalidToken, Principal
from domain import idempotency
from domain.db import Database

HEADER = "idempotency-key"


def _problem(status: int, title: str, detail: str, code: str, **headers: str) -> Response:
    return JSONResponse(
        {
            "type": "https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/",
            "title": title,
            "detail": detail,
            "errors": [{"message": detail, "extensions": {"code": code}}],
        },
        status_code=status,
        media_type="application/problem+json",
        headers=headers or None,
    )


def is_mutation(document: Any) -> bool:
    """Whether a GraphQL request body selects a mutation operation (a malformed one is not)."""
    if not isinstance(document, dict) or not isinstance(document.get("query"), str):
        return False
    try:
        parsed = parse(document["query"])
    except GraphQLError:
        return False
    name = document.get("operationName")
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        operations = [o for o in operations if o.name is not None and o.name.value == name]
    elif len(operations) != 1:
        return False
    return bool(operations) and operations[0].operation is OperationType.MUTATION


def rights_of(principal: Principal) -> list[Any]:
    """What the caller may do, in a stable form: its rights in each of its tenants, and operator or not."""
    return [
        principal.is_operator,
        sorted([str(tenant), sorted(principal.rights_in(tenant))] for tenant in principal.tenant_ids),
    ]


def fingerprint(document: dict[str, Any], tenant_header: str | None, rights: list[Any] | None = None) -> str:
    canonical = json.dumps(
        {
            "query": document.get("query"),
            "variables": document.get("variables") or {},
            "operationName": document.get("operationName"),
            "tenant": tenant_header,
            "rights": rights,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def valid_key(value: str) -> bool:
    return 0 < len(value) <= idempotency.MAX_KEY_LENGTH and all(33 <= ord(c) <= 126 for c in value)


class IdempotencyKeys:
    def __init__(
        self,
        app: ASGIApp,
        *,
        database: Database,
        authority: Authority,
        ttl_seconds: int,
        path: str = "/graphql",
    ) -> None:
        self.app = app
        self.db = database
        self.authority = authority
        self.ttl = timedelta(seconds=ttl_seconds)
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        replay = _replaying(body, receive)
        try:
            document = bodies.loads(body)
        except bodies.MalformedBody:
            document = None
        if not is_mutation(document):
            await self.app(scope, replay, send)
            return
        assert isinstance(document, dict)
        if not valid_key(key):
            response = _problem(
                400,
                "Invalid Idempotency-Key",
                f"the Idempotency-Key must be 1 to {idempotency.MAX_KEY_LENGTH} visible ASCII characters",
                "BAD_REQUEST",
            )
            await response(scope, replay, send)
            return
        try:
            principal = await self.authority.authenticate(headers.get("authorization"))
        except InvalidToken:
            principal = None
        owner = (
            idempotency.Owner.of(principal.issuer, principal.subject, principal.tenant_ids)
            if principal
            else None
        )
        if principal is None or owner is None:
            # Unauthenticated (the endpoint answers 401) or a principal of no tenant: nothing to scope to.
            await self.app(scope, replay, send)
            return
        request_hash = fingerprint(document, headers.get("x-tenant"), rights_of(principal))
        outcome = await idempotency.claim(self.db, owner, key=key, request_hash=request_hash, ttl=self.ttl)
        if isinstance(outcome, idempotency.Replay):
            await _replayed(outcome)(scope, replay, send)
            return
        if isinstance(outcome, idempotency.Mismatch):
            response = _problem(
                422,
                "Idempotency-Key reused",
                "this Idempotency-Key was used for a different request (or with other rights); use a new key",
                "IDEMPOTENCY_KEY_REUSED",
            )
            await response(scope, replay, send)
            return
        if isinstance(outcome, idempotency.InProgress):
            response = _problem(
                409,
                "Request in progress",
                "a request with this Idempotency-Key is still being processed; retry shortly",
                "IDEMPOTENCY_KEY_IN_PROGRESS",
                **{"Retry-After": "1"},
            )
            await response(scope, replay, send)
            return
        await self._first(scope, replay, send, owner, key)

    async def _first(
        self, scope: Scope, receive: Receive, send: Send, owner: idempotency.Owner, key: str
    ) -> None:
        status = 500
        content_type: str | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = int(message["status"])
                content_type = Headers(raw=message.get("headers", [])).get("content-type")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            await _shielded(idempotency.release(self.db, owner, key))
            raise
        body = b"".join(chunks).decode("utf-8", errors="replace")
        # Only an answer of a request that ran is kept. A server fault (an HTTP 5xx or a masked GraphQL
        # error in a 200) and a refusal before running (401, 413, 429...) free the key: the retry must run
        # rather than replay the fault for a day, and a 429 keeps its own Retry-After.
        if not 200 <= status < 300 or reports_a_fault(body):
            await _shielded(idempotency.release(self.db, owner, key))
            return
        await _shielded(
            idempotency.complete(self.db, owner, key=key, status=status, content_type=content_type, body=body)
        )


async def _shielded(work: Any) -> None:
    """Finish bookkeeping even if the client went away mid-response."""
    task = asyncio.ensure_future(work)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(task)


def _replayed(stored: idempotency.Replay) -> Response:
    return Response(
        stored.body,
        status_code=stored.status,
        media_type=stored.content_type or "application/json",
        headers={"Idempotent-Replayed": "true"},
    )


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the already-read body to the app, then waits on the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
