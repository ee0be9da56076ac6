"""Access tokens of the built-in issuer: claims and signature, nothing else.

Synchronous on purpose: authlib's token generator calls into this from its own (sync) flow.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from domain.tenancy.roles import ALL_SCOPES

SIGNING_ALGORITHM = "RS256"
# The longest lifetime of a token of the built-in issuer: a rotated key verifies this long, then retires.
MAX_TOKEN_TTL_SECONDS = 86_400
# Claims the issuer owns: callers adding extra claims must not be able to forge or shadow them.
RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "scp", "client_id"})


def checked_scopes(scopes: Iterable[str] | None) -> frozenset[str]:
    """The requested scopes, all known ones when None; an unknown scope is a programming error."""
    if scopes is None:
        return ALL_SCOPES
    wanted = frozenset(scopes)
    unknown = wanted - ALL_SCOPES
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
    return wanted


def build_claims(
    *,
    issuer: str,
    audience: str,
    subject: str,
    scopes: frozenset[str],
    ttl_seconds: int,
    client_id: str | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    if not subject:
        raise ValueError("a token needs a subject")
    if not 0 < ttl_seconds <= MAX_TOKEN_TTL_SECONDS:
        raise ValueError(f"ttl_seconds must be between 1 and {MAX_TOKEN_TTL_SECONDS}")
    extra = dict(extra_claims or {})
    clashing = RESERVED_CLAIMS & extra.keys()
    if clashing:
        raise ValueError(f"extra claims may not set {', '.join(sorted(clashing))}")
    now = int(time.time())
    claims: dict[str, Any] = {
        **extra,
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "scope": " ".join(sorted(scopes)),
    }
    if client_id is not None:
        claims["client_id"] = client_id
    return claims


def sign(claims: Mapping[str, Any], key: RSAKey) -> str:
    if key.kid is None:
        raise ValueError("the signing key has no kid")
    header = {"alg": SIGNING_ALGORITHM, "kid": key.kid, "typ": "JWT"}
    return jwt.encode(header, dict(claims), key, algorithms=[SIGNING_ALGORITHM])
