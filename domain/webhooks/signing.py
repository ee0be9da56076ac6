"""Standard Webhooks: secrets, signed headers, the message body, and the retry schedule.

Signing is the ``standardwebhooks`` reference library's: ``webhook-signature`` is ``v1,`` followed by the
base64 HMAC-SHA256 of ``{webhook-id}.{webhook-timestamp}.{body}`` under the secret's bytes. The secret
is shown to the endpoint's creator once, as ``whsec_`` + base64, and kept sealed at rest (Fernet) when
a key encryption key is configured.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
_SEALED_PREFIX = "fernet:"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class SecretBox:
    """Seals webhook secrets at rest when a key encryption key is configured; plain otherwise."""

    def __init__(self, key_encryption_key: str | None) -> None:
        self._fernet: Fernet | None = None
        if key_encryption_key:
            derived = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=b"incidentdesk",
                info=b"incidentdesk webhook secrets v1",
            ).derive(key_encryption_key.encode())
            self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        if self._fernet is None:
            return secret
        return _SEALED_PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(_SEALED_PREFIX):
            return stored
        if self._fernet is None:
            raise RuntimeError("a webhook secret is sealed but no key encryption key is configured")
        return self._fernet.decrypt(stored[len(_SEALED_PREFIX) :].encode()).decode()


def signed_headers(secret: str, message_id: str, body: str, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (the timestamp and signature are per attempt)."""
    at = at.astimezone(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


def message_body(event_type: str, at: datetime, data: dict[str, Any]) -> str:
    """The JSON body Standard Webhooks recommends: ``type``, ``timestamp`` and ``data``."""
    return json.dumps(
        {"type": event_type, "timestamp": at.astimezone(UTC).isoformat(), "data": data},
        separators=(",", ":"),
        sort_keys=True,
        default=str,
    )


def retry_delay(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds before attempt ``attempt + 1``: exponential (``base * 2^(attempt-1)``, capped at ``cap``)
    with equal jitter, so the wait is between half and all of that, and retries of many deliveries that
    failed together spread out instead of arriving together."""
    exponential = min(cap, base * 2 ** min(max(0, attempt - 1), 60))
    return float(exponential / 2 + rand() * exponential / 2)
