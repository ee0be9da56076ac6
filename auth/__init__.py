"""Tokens: JWKS verification, the client-credentials server, principals, roles and scopes."""

from auth.authority import Authority
from auth.errors import InvalidToken
from auth.principal import Principal, VerifiedToken

__all__ = ["Authority", "InvalidToken", "Principal", "VerifiedToken"]
