"""Signed links in mails: confirm a subscription, unsubscribe, confirm or reopen a resolution, rate.

A link carries what it does and for whom (``action`` and a small JSON ``data``), signed with a secret
derived from the key encryption key (itsdangerous, one salt per action, so a link of one kind never
works as another) and timestamped, so that each kind expires on its own schedule when it is opened.
Links are made when a mail is sent, not when it is queued: a retried mail carries fresh links, and
the settings (public address, keys) are the sending process's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from domain.sealing import MAIL_LINKS, derived_secret
from domain.settings import Settings


class LinkRefused(Exception):
    """A link that was tampered with, is of another kind, or has expired (``expired``)."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


class MailLinks:
    """Makes and opens the signed links of one deployment (its public address and keys)."""

    def __init__(self, secrets: list[bytes], public_url: str) -> None:
        self._secrets = secrets
        self.public_url = public_url.rstrip("/")

    @classmethod
    def for_settings(cls, settings: Settings) -> MailLinks:
        return cls(derived_secret(settings, MAIL_LINKS), settings.public_url)

    def _serializer(self, action: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secrets, salt=f"incidentdesk.mail.{action}")

    def token(self, action: str, data: Mapping[str, Any]) -> str:
        return str(self._serializer(action).dumps(dict(data)))

    def url(self, path: str, action: str, data: Mapping[str, Any], **query: str) -> str:
        """``public_url`` + ``path`` with the signed ``token`` (and any other query parameters)."""
        return f"{self.public_url}{path}?{urlencode({'token': self.token(action, data), **query})}"

    def open(self, token: str, action: str, max_age: timedelta | None) -> dict[str, Any]:
        """What a link of ``action`` carries; LinkRefused when it is not one, or is older than ``max_age``."""
        serializer = self._serializer(action)
        try:
            if max_age is None:
                data = serializer.loads(token)
            else:
                data = serializer.loads(token, max_age=int(max_age.total_seconds()))
        except SignatureExpired:
            raise LinkRefused("this link has expired", expired=True) from None
        except BadSignature:
            raise LinkRefused("this link is not valid") from None
        if not isinstance(data, dict):
            raise LinkRefused("this link is not valid")
        return data
