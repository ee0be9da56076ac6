"""Tokens built by hand, for the cases an honest issuer never produces."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import Key


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def claims(
    issuer: str | None, audience: str | None, subject: str | None = "alice", **overrides: Any
) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    if subject is not None:
        values["sub"] = subject
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def signed(key: Key, payload: dict[str, Any], *, kid: str | None = None, alg: str = "RS256") -> str:
    header = {"alg": alg, "kid": kid if kid is not None else key.kid}
    return jwt.encode(header, payload, key, algorithms=[alg])


def unsigned(payload: dict[str, Any], kid: str) -> str:
    """An ``alg: none`` token: header and payload, and an empty signature."""
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode()) + "."
