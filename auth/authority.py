"""``Authority``: the one object the app and the CLI hold for everything about tokens.

Built eagerly when the app is created, so its constructor does no I/O: keys and JWKS load on first use.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import httpx
from starlette.routing import BaseRoute, Route

from auth.clients import register_client, revoke_client
from auth.errors import InvalidToken
from auth.keys import KeyStore
from auth.oauth_server import TokenServer
from auth.principal import Principal, VerifiedToken, resolve_principal
from auth.tokens import build_claims, checked_scopes, sign
from auth.verify import Verifier
from auth.well_known import JWKS_PATH, METADATA_PATH, TOKEN_PATH, WellKnown
from domain.access import AccessCache, AccessNotices
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role

# Identity providers answer in milliseconds; a hung one must not hold requests for long.
_HTTP_TIMEOUT = httpx.Timeout(5.0)


class Authority:
    """The built-in issuer, the verifier of every accepted issuer, and the OAuth endpoints."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        http: httpx.AsyncClient | None = None,
        access: AccessNotices | None = None,
    ) -> None:
        self.settings = settings
        self._database = database
        # What the caches below follow; connections that keep a caller's rights watch it too.
        self.access = access
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=_HTTP_TIMEOUT, follow_redirects=False)
        self.keys = KeyStore(settings, database)
        self.verifier = Verifier(settings, self.keys, self._http)
        self._server = TokenServer(settings, database, self.keys)
        self._well_known = WellKnown(settings, self.keys)
        # Known tokens, with the principal each resolved to: a request with one touches no database and
        # verifies no signature. Dropped on every access notice (domain/access.py).
        self._known: AccessCache[str, tuple[Principal, datetime, str]] | None = (
            AccessCache(access) if access is not None else None
        )

    @property
    def issuer(self) -> str:
        return self.settings.public_url

    async def mint(
        self,
        subject: str,
        *,
        scopes: Iterable[str] | None = None,
        ttl_seconds: int | None = None,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A token of the built-in issuer for ``subject`` (all known scopes when ``scopes`` is None)."""
        claims = build_claims(
            issuer=self.issuer,
            audience=self.settings.audience,
            subject=subject,
            scopes=checked_scopes(scopes),
            ttl_seconds=ttl_seconds if ttl_seconds is not None else self.settings.token_ttl_seconds,
            extra_claims=extra_claims,
        )
        return sign(claims, await self.keys.signing_key())

    async def verify(self, token: str) -> VerifiedToken:
        return await self.verifier.verify(token)

    async def principal(self, token: VerifiedToken) -> Principal:
        return await resolve_principal(self._database, token)

    async def authenticate(self, authorization_header: str | None) -> Principal | None:
        """None without a header (an anonymous caller); InvalidToken for anything but a valid bearer token."""
        if authorization_header is None:
            return None
        scheme, _, token = authorization_header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("malformed authorization header")
        principal, _ = await self.authenticated(token.strip())
        return principal

    async def authenticated(self, token: str) -> tuple[Principal, datetime]:
        """The principal a bearer token stands for, and when the token expires."""
        if self._known is not None and (known := self._known.get(token)) is not None:
            principal, expires_at, kid = known
            # Known, and its key still trusted (keys retire; an issuer may drop one): no signature check.
            if await self.verifier.trusts(principal.issuer, kid):
                return principal, expires_at
        generation = self._known.generation() if self._known is not None else 0
        verified = await self.verify(token)
        principal = await self.principal(verified)
        if self._known is not None:
            self._known.put(
                token,
                (principal, verified.expires_at, verified.kid),
                generation,
                until=verified.expires_at.timestamp(),
            )
        return principal, verified.expires_at

    @property
    def cache_hits(self) -> tuple[int, int]:
        """(hits, misses) of the known-token cache, for metrics."""
        return (self._known.hits, self._known.misses) if self._known is not None else (0, 0)

    async def create_client(
        self,
        tenant_id: uuid.UUID,
        name: str,
        scopes: Iterable[str],
        role: Role = Role.AGENT,
    ) -> tuple[str, str]:
        """Register an OAuth client of ``tenant_id``; returns (client_id, client_secret), shown only now."""
        return await register_client(
            self._database, issuer=self.issuer, tenant_id=tenant_id, name=name, scopes=scopes, role=role
        )

    async def revoke_client(self, client_id: str) -> uuid.UUID | None:
        """Revoke an OAuth client of the built-in issuer; its tenant, or None when there is no such client."""
        return await revoke_client(self._database, issuer=self.issuer, client_id=client_id)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(TOKEN_PATH, self._server.token_endpoint, methods=["POST"], name="oauth_token"),
            Route(JWKS_PATH, self._well_known.jwks, methods=["GET"], name="jwks"),
            Route(METADATA_PATH, self._well_known.metadata, methods=["GET"], name="oauth_metadata"),
        ]

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()
