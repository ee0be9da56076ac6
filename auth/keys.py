"""The built-in issuer's signing keys: generated on first use, kept in ``signing_keys``, cached in memory.

Private keys are always sealed at rest (domain/sealing.py): with ``INCIDENTDESK_KEY_ENCRYPTION_KEY``, or
the key generated into the data dir. ``rotate`` adds a key that signs from then on; the keys it replaces
keep verifying (and stay in the JWKS) until every token they signed has expired, then retire. Each
process re-reads the keys every ``signing_keys_refresh_seconds``, so all replicas move to a new key.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import Key, KeySet, KeySetSerialization, RSAKey
from sqlalchemy import or_, select, text

from auth.tokens import MAX_TOKEN_TTL_SECONDS
from domain.columns import utcnow
from domain.db import Database, Scope
from domain.sealing import SIGNING_KEYS, Sealer, SealingError
from domain.settings import Settings
from domain.tenancy.models import SigningKey

log = logging.getLogger(__name__)

ALGORITHM = "RS256"
KEY_SIZE = 2048
# Serialises key creation across processes; any constant works as long as nothing else uses it.
_CREATE_LOCK_ID = 0x1D_5161_4B45_7301
# A flood of tokens with made-up kids must not turn into a flood of queries.
_RELOAD_INTERVAL_SECONDS = 10.0
# A rotated key stays in the JWKS this long past the rotation: the longest lifetime of a token it signed,
# and the leeway verifiers allow past expiry.
RETIREMENT_GRACE = timedelta(seconds=MAX_TOKEN_TTL_SECONDS + 60)


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
    loaded_at: float
    # The earliest retirement among the loaded keys: the cache is stale from then on.
    stale_at: datetime | None

    @functools.cached_property
    def by_kid(self) -> dict[str, RSAKey]:
        """The public keys by kid: every request with a known token looks its key up here."""
        return {key.kid: key for key in self.public if isinstance(key, RSAKey) and key.kid}


@dataclass(frozen=True)
class KeyInfo:
    """A signing key as ``incidentdesk keys list`` shows it (never its private part)."""

    kid: str
    created_at: datetime
    retire_after: datetime | None
    state: str  # SIGNING, VERIFYING (rotated, until retire_after) or RETIRED


class KeyStore:
    """Signing and verification keys of the built-in issuer. No I/O until first used."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self._database = database
        self._settings = settings
        self._refresh_seconds = settings.signing_keys_refresh_seconds
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
        key = loaded.by_kid.get(kid)
        if key is not None:
            return key
        async with self._lock:
            if time.monotonic() - self._last_reload >= _RELOAD_INTERVAL_SECONDS:
                self._loaded = await self._load_or_create()
            current = self._loaded or loaded
        return current.by_kid.get(kid)

    @functools.cached_property
    def sealer(self) -> Sealer:
        # Built on first use: constructing the app reads no key file.
        return Sealer.for_settings(self._settings, SIGNING_KEYS)

    async def _ensure(self) -> _Loaded:
        loaded = self._loaded
        if loaded is not None and not self._stale(loaded):
            return loaded
        async with self._lock:
            if self._loaded is None:
                self._loaded = await self._load_or_create()
            elif self._stale(self._loaded):
                try:
                    self._loaded = await self._load_or_create()
                except Exception as error:
                    # The keys in hand still verify: a database hiccup must not fail every request.
                    log.warning("re-reading the signing keys failed (%s); keeping the ones loaded", error)
                    self._loaded = _Loaded(
                        self._loaded.public, self._loaded.newest, time.monotonic(), self._loaded.stale_at
                    )
            return self._loaded

    def _stale(self, loaded: _Loaded) -> bool:
        if time.monotonic() - loaded.loaded_at >= self._refresh_seconds:
            return True
        return loaded.stale_at is not None and utcnow() >= loaded.stale_at

    async def _load_or_create(self) -> _Loaded:
        self._last_reload = time.monotonic()
        rows = await self._active_rows()
        if not any(row.retire_after is None for row in rows):
            await self._create_if_missing()
            rows = await self._active_rows()
        return self._materialise(rows)

    async def _active_rows(self) -> list[SigningKey]:
        # signing_keys is a reference table without row-level security: the empty scope suffices.
        async with self._database.transaction(Scope()) as session:
            result = await session.scalars(
                select(SigningKey)
                .where(SigningKey.active.is_(True), _not_retired(utcnow()))
                .order_by(SigningKey.created_at, SigningKey.kid)
            )
            return list(result)

    async def _create_if_missing(self) -> None:
        async with self._database.transaction(Scope()) as session:
            # Two processes starting at once: the second waits here, then sees the first one's key.
            await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _CREATE_LOCK_ID})
            existing = await session.scalar(
                select(SigningKey.kid)
                .where(SigningKey.active.is_(True), SigningKey.retire_after.is_(None))
                .limit(1)
            )
            if existing is not None:
                return
            key = await self._new_row()
            session.add(key)
            log.info("created signing key %s (sealed at rest)", key.kid)

    async def _new_row(self) -> SigningKey:
        key = await asyncio.to_thread(_generate)
        private_json = json.dumps(key.as_dict(private=True))
        return SigningKey(
            kid=key.kid,
            algorithm=ALGORITHM,
            public_jwk=json.dumps(key.as_dict(private=False)),
            private_jwk=self.sealer.seal(private_json),
            encrypted=True,
            active=True,
            created_at=utcnow(),
        )

    def _materialise(self, rows: list[SigningKey]) -> _Loaded:
        signing = [row for row in rows if row.retire_after is None]
        if not signing:
            raise RuntimeError("no active signing key after creation")
        public: list[Key] = [RSAKey.import_key(json.loads(row.public_jwk)) for row in rows]
        newest = signing[-1]
        retiring = [row.retire_after for row in rows if row.retire_after is not None]
        return _Loaded(
            public=KeySet(public),
            newest=_StoredPrivate(kid=newest.kid, private_jwk=newest.private_jwk, encrypted=newest.encrypted),
            loaded_at=time.monotonic(),
            stale_at=min(retiring) if retiring else None,
        )

    def _open_private(self, row: _StoredPrivate) -> RSAKey:
        data = row.private_jwk
        if row.encrypted:
            try:
                data = self.sealer.open(data)
            except SealingError as error:
                raise KeyDecryptionError(
                    f"signing key {row.kid} does not open with the configured key encryption key"
                ) from error
        return RSAKey.import_key(json.loads(data))

    # ---------------------------------------------------------------- administration

    async def reseal(self) -> int:
        """Seal every private key with the sealing key: plaintext rows from before sealing was the rule,
        and rows sealed with the data-dir key before one was configured. Returns how many moved."""
        moved = 0
        async with self._database.transaction(Scope()) as session:
            await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _CREATE_LOCK_ID})
            for row in await session.scalars(select(SigningKey).with_for_update()):
                if row.encrypted and self.sealer.is_current(row.private_jwk):
                    continue
                try:
                    row.private_jwk = (
                        self.sealer.reseal(row.private_jwk)
                        if row.encrypted
                        else self.sealer.seal(row.private_jwk)
                    )
                except SealingError:
                    log.warning("signing key %s opens with no configured key; left as it is", row.kid)
                    continue
                row.encrypted = True
                moved += 1
        if moved:
            log.info("sealed %d signing key(s) with the current key encryption key", moved)
        return moved

    async def rotate(self, *, grace: timedelta = RETIREMENT_GRACE) -> tuple[str, list[KeyInfo]]:
        """Add a key that signs from now on; the keys it replaces verify for ``grace`` more, then retire.
        Keys whose grace has passed are retired now. Returns the new kid and the keys now retiring."""
        now = utcnow()
        async with self._database.transaction(Scope()) as session:
            await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _CREATE_LOCK_ID})
            rows = list(await session.scalars(select(SigningKey).where(SigningKey.active.is_(True))))
            retiring = []
            for row in rows:
                if row.retire_after is not None and row.retire_after <= now:
                    row.active = False
                    continue
                if row.retire_after is None:
                    row.retire_after = now + grace
                retiring.append(_info(row, now))
            key = await self._new_row()
            session.add(key)
        # This process signs with the new key at once; others within signing_keys_refresh_seconds.
        async with self._lock:
            self._loaded = None
        log.info("rotated the signing key: %s signs from now on", key.kid)
        return key.kid, retiring

    async def describe(self) -> list[KeyInfo]:
        """Every key, oldest first, with what it does now."""
        now = utcnow()
        async with self._database.transaction(Scope()) as session:
            rows = await session.scalars(select(SigningKey).order_by(SigningKey.created_at, SigningKey.kid))
            return [_info(row, now) for row in rows]


def _not_retired(now: datetime) -> Any:
    return or_(SigningKey.retire_after.is_(None), SigningKey.retire_after > now)


def _info(row: SigningKey, now: datetime) -> KeyInfo:
    if not row.active or (row.retire_after is not None and row.retire_after <= now):
        state = "RETIRED"
    elif row.retire_after is not None:
        state = "VERIFYING"
    else:
        state = "SIGNING"
    return KeyInfo(kid=row.kid, created_at=row.created_at, retire_after=row.retire_after, state=state)


def _generate() -> RSAKey:
    # auto_kid: the kid is the RFC 7638 thumbprint, stable for the key's lifetime.
    return RSAKey.generate_key(KEY_SIZE, parameters={"alg": ALGORITHM, "use": "sig"}, auto_kid=True)
