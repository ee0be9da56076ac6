"""The built-in issuer's signing keys: generated on first use, kept in ``signing_keys``, cached in memory.

Private keys are encrypted at rest with Fernet when ``key_encryption_key`` is configured.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from dataclasses import dataclass

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken as FernetInvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.jwk import Key, KeySet, KeySetSerialization, RSAKey
from sqlalchemy import select, text

from domain.db import Database, Scope
from domain.settings import Settings
from domain.tenancy.models import SigningKey

log = logging.getLogger(__name__)

ALGORITHM = "RS256"
KEY_SIZE = 2048
# Serialises key creation across processes; any constant works as long as nothing else uses it.
_CREATE_LOCK_ID = 0x1D_5161_4B45_7301
# A flood of tokens with made-up kids must not turn into a flood of queries.
_RELOAD_INTERVAL_SECONDS = 10.0


def fernet_for(key_encryption_key: str) -> Fernet:
    """Any configured string becomes a Fernet key: HKDF stretches and fixes its length."""
    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"incidentdesk",
        info=b"incidentdesk signing keys v1",
    ).derive(key_encryption_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


class KeyDecryptionError(RuntimeError):
    """A stored private key cannot be opened with the configured key encryption key (or none is set)."""


@dataclass(frozen=True)
class _StoredPrivate:
    kid: str
    private_jwk: str
    encrypted: bool


@dataclass(frozen=True)
class _Loaded:
    public: KeySet
    # The newest active key signs; older active ones still verify the tokens they signed.
    newest: _StoredPrivate


class KeyStore:
    """Signing and verification keys of the built-in issuer. No I/O until first used."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self._database = database
        self._fernet = fernet_for(settings.key_encryption_key) if settings.key_encryption_key else None
        self._loaded: _Loaded | None = None
        self._signing: RSAKey | None = None
        self._lock = asyncio.Lock()
        self._last_reload = float("-inf")

    async def signing_key(self) -> RSAKey:
        """The newest active private key, created (once, cluster-wide) when none exists."""
        newest = (await self._ensure()).newest
        if self._signing is None or self._signing.kid != newest.kid:
            # Opened only for signing: a replica with a wrong key encryption key still verifies tokens.
            self._signing = self._open_private(newest)
        return self._signing

    def current_signing_key(self) -> RSAKey:
        """For synchronous callers (authlib's token generator): valid only after ``signing_key`` was awaited."""
        if self._signing is None:
            raise RuntimeError("the signing key is not loaded yet")
        return self._signing

    async def public_keys(self) -> KeySet:
        return (await self._ensure()).public

    async def jwks(self) -> KeySetSerialization:
        """Every active key, public members only."""
        return (await self.public_keys()).as_dict(private=False)

    async def verification_key(self, kid: str) -> RSAKey | None:
        """The public key for ``kid``; reloads from the database (rate limited) when it is unknown here,
        since another replica may have added a key."""
        loaded = await self._ensure()
        key = _find(loaded.public, kid)
        if key is not None:
            return key
        async with self._lock:
            if time.monotonic() - self._last_reload >= _RELOAD_INTERVAL_SECONDS:
                self._loaded = await self._load_or_create()
            current = self._loaded or loaded
        return _find(current.public, kid)

    async def _ensure(self) -> _Loaded:
        if self._loaded is not None:
            return self._loaded
        async with self._lock:
            if self._loaded is None:
                self._loaded = await self._load_or_create()
            return self._loaded

    async def _load_or_create(self) -> _Loaded:
        self._last_reload = time.monotonic()
        rows = await self._active_rows()
        if not rows:
            await self._create_if_missing()
            rows = await self._active_rows()
        return self._materialise(rows)

    async def _active_rows(self) -> list[SigningKey]:
        # signing_keys is a reference table without row-level security: the empty scope suffices.
        async with self._database.transaction(Scope()) as session:
            result = await session.scalars(
                select(SigningKey)
                .where(SigningKey.active.is_(True))
                .order_by(SigningKey.created_at, SigningKey.kid)
            )
            return list(result)

    async def _create_if_missing(self) -> None:
        async with self._database.transaction(Scope()) as session:
            # Two processes starting at once: the second waits here, then sees the first one's key.
            await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _CREATE_LOCK_ID})
            existing = await session.scalar(
                select(SigningKey.kid).where(SigningKey.active.is_(True)).limit(1)
            )
            if existing is not None:
                return
            key = await asyncio.to_thread(_generate)
            private_json = json.dumps(key.as_dict(private=True))
            session.add(
                SigningKey(
                    kid=key.kid,
                    algorithm=ALGORITHM,
                    public_jwk=json.dumps(key.as_dict(private=False)),
                    private_jwk=self._fernet.encrypt(private_json.encode()).decode()
                    if self._fernet
                    else private_json,
                    encrypted=self._fernet is not None,
                    active=True,
                )
            )
            log.info("created signing key %s (encrypted at rest: %s)", key.kid, self._fernet is not None)

    def _materialise(self, rows: list[SigningKey]) -> _Loaded:
        if not rows:
            raise RuntimeError("no active signing key after creation")
        public: list[Key] = [RSAKey.import_key(json.loads(row.public_jwk)) for row in rows]
        newest = rows[-1]
        return _Loaded(
            public=KeySet(public),
            newest=_StoredPrivate(kid=newest.kid, private_jwk=newest.private_jwk, encrypted=newest.encrypted),
        )

    def _open_private(self, row: _StoredPrivate) -> RSAKey:
        data = row.private_jwk
        if row.encrypted:
            if self._fernet is None:
                raise KeyDecryptionError(
                    f"signing key {row.kid} is encrypted but no key encryption key is set"
                )
            try:
                data = self._fernet.decrypt(data.encode()).decode()
            except FernetInvalidToken as error:
                raise KeyDecryptionError(
                    f"signing key {row.kid} does not open with the configured key encryption key"
                ) from error
        return RSAKey.import_key(json.loads(data))


def _generate() -> RSAKey:
    # auto_kid: the kid is the RFC 7638 thumbprint, stable for the key's lifetime.
    return RSAKey.generate_key(KEY_SIZE, parameters={"alg": ALGORITHM, "use": "sig"}, auto_kid=True)


def _find(keys: KeySet, kid: str) -> RSAKey | None:
    for key in keys:
        if key.kid == kid and isinstance(key, RSAKey):
            return key
    return None
