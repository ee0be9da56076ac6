"""Secrets at rest: the built-in issuer's private keys and webhook secrets are always sealed (Fernet).

The key encryption key is ``INCIDENTDESK_KEY_ENCRYPTION_KEY`` when it is set. Without it (development,
the embedded database) one is generated once into the data dir, readable by its owner only, so that
nothing is ever stored in clear; a production setting refuses to start without a configured key
(``Settings.production_problems``).

Several keys may open a secret: the configured one first, then the data-dir one when its file exists.
New secrets are sealed with the first; ``reseal`` moves older ones (plaintext rows from before, or rows
sealed with the data-dir key before a key was configured) to it. Each purpose derives its own Fernet key
from the key encryption key (HKDF), so a secret of one kind never opens with another's key.
"""

from __future__ import annotations

import base64
import functools
import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.settings import Settings

KEY_FILE = "key-encryption-key"
SIGNING_KEYS = b"incidentdesk signing keys v1"
WEBHOOK_SECRETS = b"incidentdesk webhook secrets v1"


class SealingError(RuntimeError):
    """A sealed secret opens with none of the configured keys, or no key is available."""


def _derived(key_encryption_key: str, purpose: bytes) -> Fernet:
    """Any configured string becomes a Fernet key: HKDF stretches and fixes its length."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"incidentdesk", info=purpose).derive(
        key_encryption_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def data_dir_key(data_dir: Path, *, create: bool) -> str | None:
    """The key kept in ``data_dir``: created once (owner-only) when ``create``, else read if present."""
    path = data_dir / KEY_FILE
    if create and not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: two processes starting at once agree on the one that won.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32) + "\n")
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # Only the owner may read it, whatever umask or copy made it wider.
        path.chmod(0o600)
    value = path.read_text().strip()
    if not value:
        raise SealingError(f"the key file {path} is empty")
    return value


@functools.lru_cache(maxsize=8)
def _keys(configured: str | None, data_dir: str) -> tuple[str, ...]:
    if configured:
        fallback = data_dir_key(Path(data_dir), create=False)
        return (configured, fallback) if fallback and fallback != configured else (configured,)
    generated = data_dir_key(Path(data_dir), create=True)
    assert generated is not None
    return (generated,)


def key_encryption_keys(settings: Settings) -> tuple[str, ...]:
    """The keys that open secrets, the one that seals first. Reads (or creates) the data-dir key once."""
    if settings.is_production and not settings.key_encryption_key:
        raise SealingError("INCIDENTDESK_KEY_ENCRYPTION_KEY is not set (required in production)")
    return _keys(settings.key_encryption_key or None, str(settings.data_dir.resolve()))


class Sealer:
    """Seals and opens one kind of secret with the key encryption keys, the first one sealing."""

    def __init__(self, keys: Sequence[str], purpose: bytes) -> None:
        if not keys:
            raise SealingError("no key encryption key")
        self._primary = _derived(keys[0], purpose)
        self._all = MultiFernet([_derived(key, purpose) for key in keys])

    @classmethod
    def for_settings(cls, settings: Settings, purpose: bytes) -> Sealer:
        return cls(key_encryption_keys(settings), purpose)

    def seal(self, secret: str) -> str:
        return self._primary.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._all.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SealingError("a sealed secret opens with none of the key encryption keys") from None

    def is_current(self, sealed: str) -> bool:
        """Whether the sealing key sealed it (nothing to move)."""
        try:
            self._primary.decrypt(sealed.encode())
        except InvalidToken:
            return False
        return True

    def reseal(self, sealed: str) -> str:
        """The same secret sealed with the sealing key (SealingError when no key opens it)."""
        try:
            return self._all.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise SealingError("a sealed secret opens with none of the key encryption keys") from None


MAIL_LINKS = b"incidentdesk mail links v1"


def derived_secret(settings: Settings, purpose: bytes) -> list[bytes]:
    """Secrets of one purpose, derived (HKDF) from each key encryption key, oldest first and the
    current one last (as itsdangerous takes them): a link signed before a key was configured still opens
    while the old key is kept."""
    return [
        HKDF(algorithm=hashes.SHA256(), length=32, salt=b"incidentdesk", info=purpose).derive(key.encode())
        for key in reversed(key_encryption_keys(settings))
    ]
