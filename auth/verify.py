"""Bearer token verification for the built-in issuer and every configured external issuer.

The unverified ``iss`` only chooses which key set to try; everything that decides acceptance (signature,
issuer, audience, lifetime) is checked against that key set and this service's configuration.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import (
    ClaimError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import Key

from auth.errors import InvalidToken
from auth.jwks import RemoteKeySet
from auth.keys import KeyStore
from auth.principal import VerifiedToken
from domain.settings import Settings

# Asymmetric only: "none" and the HMAC family (whose secret a public key could be mistaken for) never pass.
ALLOWED_ALGORITHMS = frozenset({"RS256", "ES256", "PS256", "EdDSA"})
LEEWAY_SECONDS = 30
# Far above any real access token; refuses absurd input before any parsing.
MAX_TOKEN_LENGTH = 16_384


class Verifier:
    def __init__(self, settings: Settings, keys: KeyStore, http: httpx.AsyncClient) -> None:
        self.builtin_issuer = settings.public_url
        self._audience = settings.audience
        self._keys = keys
        self.external: dict[str, tuple[str, RemoteKeySet]] = {
            issuer.issuer: (
                issuer.audience,
                RemoteKeySet(issuer, http, cache_seconds=settings.jwks_cache_seconds),
            )
            for issuer in settings.external_issuers()
        }

    async def verify(self, token: str) -> VerifiedToken:
        header, unverified = _peek(token)
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise InvalidToken(f"algorithm {alg!r} is not allowed")
        if "crit" in header:
            raise InvalidToken("critical header extensions are not supported")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no key (kid)")

        issuer = unverified.get("iss")
        if not isinstance(issuer, str):
            raise InvalidToken("the token names no issuer")
        key, audience = await self._key_for(issuer, kid)
        if key.alg is not None and key.alg != alg:
            raise InvalidToken("the token's algorithm does not match its key")

        try:
            decoded = jwt.decode(token, key, algorithms=[alg])
        except JoseError as error:
            raise InvalidToken("bad signature") from error
        claims = decoded.claims
        _check_claims(claims, issuer=issuer, audience=audience)
        return VerifiedToken(
            issuer=issuer,
            subject=claims["sub"],
            scopes=_scopes(claims),
            client_id=self._client_id(issuer, claims),
            claims=claims,
            expires_at=_expiry(claims),
            kid=kid,
        )

    async def trusts(self, issuer: str, kid: str) -> bool:
        """Whether the key still verifies tokens (a retired or rotated-out key does not)."""
        try:
            await self._key_for(issuer, kid)
        except InvalidToken:
            return False
        return True

    async def _key_for(self, issuer: str, kid: str) -> tuple[Key, str]:
        key: Key | None
        if issuer == self.builtin_issuer:
            key, audience = await self._keys.verification_key(kid), self._audience
        elif issuer in self.external:
            audience, remote = self.external[issuer]
            key = await remote.key(kid)
        else:
            raise InvalidToken("unknown issuer")
        if key is None:
            raise InvalidToken("unknown signing key (kid)")
        return key, audience

    def _client_id(self, issuer: str, claims: dict[str, Any]) -> str | None:
        # Only the built-in issuer's client_id means "an OAuth client of this service".
        if issuer != self.builtin_issuer or "client_id" not in claims:
            return None
        client_id = claims["client_id"]
        if client_id != claims["sub"]:
            raise InvalidToken("client_id does not match the subject")
        return str(client_id)


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims before verification: for choosing a key, never for deciding anything."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("malformed token")
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError) as error:
        raise InvalidToken("malformed token") from error
    if not isinstance(claims, dict):
        raise InvalidToken("malformed token")
    return dict(compact.headers()), claims


def _check_claims(claims: dict[str, Any], *, issuer: str, audience: str) -> None:
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        sub={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError as error:
        raise InvalidToken("token expired") from error
    except MissingClaimError as error:
        raise InvalidToken(f"missing claim: {error.claim}") from error
    except ClaimError as error:
        reasons = {"nbf": "token not yet valid", "aud": "wrong audience", "iss": "wrong issuer"}
        raise InvalidToken(reasons.get(error.claim, f"invalid claim: {error.claim}")) from error


def _expiry(claims: dict[str, Any]) -> datetime:
    """``exp`` as an instant; one no clock can represent (1e20, Infinity, NaN) is an invalid token, not a fault."""
    exp = claims["exp"]
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise InvalidToken("invalid claim: exp")
    try:
        return datetime.fromtimestamp(exp, UTC)
    except (OverflowError, ValueError, OSError):
        raise InvalidToken("invalid claim: exp") from None


def _scopes(claims: dict[str, Any]) -> frozenset[str] | None:
    """``scope`` (RFC 9068: space-separated) or ``scp`` (a list, or a string as Entra ID sends it)."""
    for name in ("scope", "scp"):
        if name not in claims:
            continue
        value = claims[name]
        if isinstance(value, str):
            return frozenset(value.split())
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return frozenset(value)
        raise InvalidToken(f"malformed {name} claim")
    return None
