"""``POST /oauth/token``: authlib's framework-neutral authorization server behind a small Starlette adapter.

authlib is synchronous and the database is not, so the endpoint first does all I/O (read the body, load the
client row, make sure a signing key is loaded), then runs authlib in a worker thread, where ``query_client``
answers from what was preloaded. The thread also keeps scrypt and RSA signing off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import limits
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    InsecureTransportError,
    InvalidRequestError,
    InvalidScopeError,
    JsonPayload,
    JsonRequest,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant as _ClientCredentialsGrant
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from auth.clients import AUTH_METHODS, Client, load_client
from auth.keys import KeyStore
from auth.tokens import build_claims, sign
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import ALL_SCOPES

log = logging.getLogger(__name__)

# A token request is a handful of short form fields.
MAX_BODY_BYTES = 16_384
# Secret checks (scrypt, ~16 MiB each) running at once in one process.
MAX_CONCURRENT_CHECKS = 4

# The client rows loaded for the request being handled, by client id (asyncio.to_thread copies the context).
_preloaded: ContextVar[dict[str, Client | None]] = ContextVar("incidentdesk_preloaded_clients")


@dataclass(frozen=True)
class PreparedRequest:
    """A Starlette request whose body has been read, so authlib can work on it synchronously."""

    method: str
    uri: str
    headers: Headers
    body: bytes

    @classmethod
    async def read(cls, request: Request) -> PreparedRequest:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise InvalidRequestError("The request body is too large.")
        return cls(method=request.method, uri=str(request.url), headers=request.headers, body=body)

    def form(self) -> list[tuple[str, str]]:
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return []
        try:
            return parse_qsl(self.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except (UnicodeDecodeError, ValueError) as error:
            raise InvalidRequestError("The request body is not valid form data.") from error


class _FormPayload(OAuth2Payload):  # type: ignore[misc]  # authlib ships no type information
    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in fields:
            self._datalist[name].append(value)
        # A repeated parameter is an error per RFC 6749 section 3.2; the first value is what authlib sees.
        self._data = {name: values[0] for name, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class _StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, prepared: PreparedRequest) -> None:
        super().__init__(method=prepared.method, uri=prepared.uri, headers=prepared.headers)
        self._form = _FormPayload(prepared.form())
        self.payload = self._form

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form.data


class _JsonPayload(JsonPayload):  # type: ignore[misc]
    def __init__(self, body: bytes) -> None:
        self._body = body

    @property
    def data(self) -> Any:
        return json.loads(self._body) if self._body else {}


class TokenThrottle:
    """Token requests per minute per client address and per claimed client id (the ``limits`` library);
    an exhausted one answers 429 with ``Retry-After`` and checks no secret."""

    def __init__(self, *, per_client: int, per_address: int, storage_url: str) -> None:
        self._client = limits.RateLimitItemPerMinute(per_client)
        self._address = limits.RateLimitItemPerMinute(per_address)
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url))

    async def refuse(self, address: str, client_id: str | None) -> Response | None:
        checks = [(self._address, "oauth-address", address)]
        if client_id:
            checks.append((self._client, "oauth-client", client_id))
        for item, *keys in checks:
            if not await self._limiter.hit(item, *keys):
                stats = await self._limiter.get_window_stats(item, *keys)
                retry_after = max(1, int(stats.reset_time - time.time()) + 1)
                return JSONResponse(
                    {"error": "slow_down", "error_description": "Too many token requests; retry later."},
                    status_code=429,
                    headers={"Retry-After": str(retry_after), "Cache-Control": "no-store"},
                )
        return None


class ClientCredentialsGrant(_ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def validate_requested_scope(self) -> None:
        # authlib refuses scopes this server does not know; a known scope beyond the client's is narrowed
        # away by get_allowed_scope, and a request left with nothing at all is refused rather than served
        # with a token that can do nothing.
        super().validate_requested_scope()
        if not self.request.client.get_allowed_scope(self.request.payload.scope):
            raise InvalidScopeError("None of the requested scopes is granted to this client.")


class TokenServer(AuthorizationServer):  # type: ignore[misc]
    """The built-in authorization server: client credentials in, a signed JWT out."""

    def __init__(self, settings: Settings, database: Database, keys: KeyStore) -> None:
        super().__init__(scopes_supported=sorted(ALL_SCOPES))
        self._settings = settings
        self._database = database
        self._keys = keys
        self.register_grant(ClientCredentialsGrant)
        self.register_token_generator("default", self._generate_token)
        self._throttle = TokenThrottle(
            per_client=settings.token_rate_limit_per_minute,
            per_address=settings.token_address_rate_limit_per_minute,
            storage_url=settings.rate_limit_storage,
        )
        # Bounds the scrypt checks running at once, so a burst costs time, never all the memory.
        self._checks = asyncio.Semaphore(MAX_CONCURRENT_CHECKS)

    async def token_endpoint(self, request: Request) -> Response:
        try:
            prepared = await PreparedRequest.read(request)
            oauth_request = self.create_oauth2_request(prepared)
        except (InsecureTransportError, InvalidRequestError) as error:
            return self.handle_error_response(None, error)
        client_id = _claimed_client_id(oauth_request)
        # Every try costs a scrypt of ~16 MiB: tries are counted per client address and per client id
        # before any secret is checked, so guessing a secret (or exhausting memory) is slow by design.
        address = request.client.host if request.client else "unknown"
        refused = await self._throttle.refuse(address, client_id)
        if refused is not None:
            return refused
        preloaded = {client_id: await load_client(self._database, client_id)} if client_id else {}
        await self._keys.signing_key()
        marker = _preloaded.set(preloaded)
        try:
            async with self._checks:
                response: Response = await asyncio.to_thread(self.create_token_response, oauth_request)
        finally:
            _preloaded.reset(marker)
        return response

    # --- what authlib asks of a framework integration ---

    def query_client(self, client_id: str) -> Client:
        client = _preloaded.get({}).get(client_id)
        if client is None or not client.active:
            # Unknown and inactive clients fail the secret check like a wrong secret: same error, same cost.
            return Client.nobody(client_id)
        return client

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        # Self-contained JWTs: nothing to store. Logged without the token itself.
        log.info("issued a token to client %s (scope %s)", request.client.client_id, token.get("scope"))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        log.debug("oauth signal %s", name)

    def create_oauth2_request(self, request: PreparedRequest | OAuth2Request) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return _StarletteOAuth2Request(request)

    def create_json_request(self, request: PreparedRequest) -> JsonRequest:
        json_request = JsonRequest(request.method, request.uri, request.headers)
        json_request.payload = _JsonPayload(request.body)
        return json_request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        # JSONResponse sets its own content type; keep authlib's others (no-store, WWW-Authenticate).
        extra = {name: value for name, value in headers if name.lower() != "content-type"}
        return JSONResponse(body, status_code=status, headers=extra)

    def handle_error_response(self, request: OAuth2Request | None, error: OAuth2Error) -> Response:
        return self.handle_response(*error(self.get_error_uri(request, error)))

    def _generate_token(
        self,
        grant_type: str,
        client: Client,
        user: object = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        granted = client.get_allowed_scope(scope)
        ttl = expires_in or self._settings.token_ttl_seconds
        claims = build_claims(
            issuer=self._settings.public_url,
            audience=self._settings.audience,
            subject=client.client_id,
            scopes=frozenset(scope_to_list(granted) or ()),
            ttl_seconds=ttl,
            client_id=client.client_id,
        )
        access_token = sign(claims, self._keys.current_signing_key())
        return {"access_token": access_token, "token_type": "Bearer", "expires_in": ttl, "scope": granted}


def _claimed_client_id(request: OAuth2Request) -> str | None:
    """The client id the request claims, from HTTP Basic first (as authlib tries it first), else the form."""
    basic_id, _ = extract_basic_authorization(request.headers)
    if basic_id:
        return str(basic_id)
    form_id = request.form.get("client_id")
    return str(form_id) if form_id else None
