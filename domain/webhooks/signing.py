"""Standard Webhooks: secrets, signed headers, the message body, and the retry schedule.

Signing is the ``standardwebhooks`` reference library's: ``webhook-signature`` is ``v1,`` followed by the
base64 HMAC-SHA256 of ``{webhook-id}.{webhook-timestamp}.{body}`` under the secret's bytes. The secret
is shown to the endpoint's creator once, as ``whsec_`` + base64, and kept sealed at rest (Fernet).
"""

from __future__ import annotations

import base64
import json
import random
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from domain.sealing import WEBHOOK_SECRETS, Sealer
from domain.settings import Settings

SECRET_PREFIX = "whsec_"
_SEALED_PREFIX = "fernet:"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class SecretBox:
    """Webhook secrets at rest: always sealed, as ``fernet:`` + a Fernet token (domain/sealing.py).

    A row without the prefix is a plaintext secret from before sealing was the rule; it still opens, and
    ``reseal`` (run when the service starts) seals it."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    @classmethod
    def for_settings(cls, settings: Settings) -> SecretBox:
        return cls(Sealer.for_settings(settings, WEBHOOK_SECRETS))

    def seal(self, secret: str) -> str:
        return _SEALED_PREFIX + self._sealer.seal(secret)

    def open(self, stored: str) -> str:
        if not stored.startswith(_SEALED_PREFIX):
            return stored
        return self._sealer.open(stored[len(_SEALED_PREFIX) :])

    def is_current(self, stored: str) -> bool:
        return stored.startswith(_SEALED_PREFIX) and self._sealer.is_current(stored[len(_SEALED_PREFIX) :])

    def reseal(self, stored: str) -> str:
        """Sealed with the sealing key: a plaintext row sealed, an older sealing moved."""
        if not stored.startswith(_SEALED_PREFIX):
            return self.seal(stored)
        return _SEALED_PREFIX + self._sealer.reseal(stored[len(_SEALED_PREFIX) :])


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
