"""Keys of external OIDC issuers: fetched over HTTP, cached, refreshed on an unknown ``kid``.

Every fetch, whatever triggered it, is spaced at least ``min_refresh_interval`` apart, so tokens carrying
made-up kids (or an identity provider that is down) cannot make this service hammer the provider.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from domain.settings import ExternalIssuer

log = logging.getLogger(__name__)

MIN_REFRESH_INTERVAL_SECONDS = 10.0


class RemoteKeySet:
    """The JWKS of one external issuer."""

    def __init__(
        self,
        issuer: ExternalIssuer,
        http: httpx.AsyncClient,
        *,
        cache_seconds: float,
        min_refresh_interval: float = MIN_REFRESH_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._http = http
        self._cache_seconds = cache_seconds
        self._min_refresh_interval = min_refresh_interval
        # Public so a test can move time instead of sleeping through the refresh interval.
        self.clock = clock
        self._jwks_uri = issuer.jwks_uri
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()
        # How many fetches were attempted: lets tests (and metrics) see the rate limit at work.
        self.fetches = 0

    async def key(self, kid: str) -> Key | None:
        """The key for ``kid``, refreshing the set when it is stale or does not know ``kid``."""
        if self._keys is None or self.clock() - self._fetched_at >= self._cache_seconds:
            await self._refresh()
        found = self._find(kid)
        if found is None:
            # Perhaps the provider rotated its keys since the last fetch.
            await self._refresh()
            found = self._find(kid)
        return found

    def _find(self, kid: str) -> Key | None:
        if self._keys is None:
            return None
        for key in self._keys:
            if key.kid == kid:
                return key
        return None

    async def _refresh(self) -> None:
        async with self._lock:
            # Concurrent callers queue on the lock; only the first of a burst fetches.
            if self.clock() - self._attempted_at < self._min_refresh_interval:
                return
            self._attempted_at = self.clock()
            self.fetches += 1
            try:
                keys = await self._fetch()
            except (httpx.HTTPError, ValueError, KeyError, TypeError, JoseError) as error:
                # Keep serving the last good keys: a provider outage should not log everyone out.
                log.warning("fetching the JWKS of %s failed: %s", self.issuer.issuer, error)
                return
            self._keys = keys
            self._fetched_at = self.clock()

    async def _fetch(self) -> KeySet:
        if self._jwks_uri is None:
            self._jwks_uri = await self._discover()
        document = await self._get_json(self._jwks_uri)
        return KeySet.import_key_set(document)  # type: ignore[arg-type]

    async def _discover(self) -> str:
        url = self.issuer.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await self._get_json(url)
        # OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer it was fetched for.
        if document.get("issuer") != self.issuer.issuer:
            raise ValueError(f"discovery document at {url} names issuer {document.get('issuer')!r}")
        jwks_uri = document["jwks_uri"]
        if not isinstance(jwks_uri, str):
            raise ValueError("jwks_uri is not a string")
        return jwks_uri

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError(f"{url} did not return a JSON object")
        return document
