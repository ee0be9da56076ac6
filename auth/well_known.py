"""``/.well-known`` documents of the built-in issuer: its public keys and its RFC 8414 metadata."""

from __future__ import annotations

import logging
from typing import Any

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from auth.clients import AUTH_METHODS, GRANT_TYPES
from auth.keys import KeyStore
from domain.settings import Settings
from domain.tenancy.roles import ALL_SCOPES

log = logging.getLogger(__name__)

TOKEN_PATH = "/oauth/token"
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"
# Clients may cache briefly; a new key is published before it signs anything that could outlive this.
_CACHE_CONTROL = "public, max-age=300"


def server_metadata(settings: Settings) -> dict[str, Any]:
    """The metadata document. authlib validates it; a non-TLS public URL (other than loopback) fails that
    check, which is logged rather than fatal so a plain-HTTP development set-up still starts."""
    base = settings.public_url.rstrip("/")
    metadata = AuthorizationServerMetadata(
        {
            "issuer": settings.public_url,
            "token_endpoint": base + TOKEN_PATH,
            "jwks_uri": base + JWKS_PATH,
            "grant_types_supported": list(GRANT_TYPES),
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "scopes_supported": sorted(ALL_SCOPES),
            # RFC 8414 requires a non-empty list even of a server without an authorization endpoint.
            # No grant using one is advertised and no authorization_endpoint is published, so nothing
            # can act on this value.
            "response_types_supported": ["token"],
        }
    )
    try:
        metadata.validate()
    except ValueError as error:
        log.warning("the authorization server metadata is not valid: %s", error)
    return dict(metadata)


class WellKnown:
    def __init__(self, settings: Settings, keys: KeyStore) -> None:
        self._keys = keys
        self._metadata = server_metadata(settings)

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(await self._keys.jwks(), headers={"Cache-Control": _CACHE_CONTROL})

    async def metadata(self, request: Request) -> Response:
        return JSONResponse(self._metadata, headers={"Cache-Control": _CACHE_CONTROL})
