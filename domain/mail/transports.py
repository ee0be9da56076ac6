"""Where mails go: an SMTP server (aiosmtplib), or a Maildir when none is configured."""

from __future__ import annotations

import asyncio
import mailbox
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from domain.columns import utcnow
from domain.mail.models import OutgoingMail
from domain.settings import Settings


def message_of(mail: OutgoingMail, sender: str) -> EmailMessage:
    """The mail as sent: text, and HTML as its alternative when it has one."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = mail.message_id
    for name, value in mail.headers.items():
        message[name] = value
    message.set_content(mail.text_body)
    if mail.html_body is not None:
        message.add_alternative(mail.html_body, subtype="html")
    return message


class Transport(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpTransport:
    """``smtp://[user:password@]host[:port][?starttls=false]`` (STARTTLS unless told not to; port 587)
    or ``smtps://...`` (TLS from the first byte; port 465)."""

    hostname: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    starttls: bool
    timeout: float

    @classmethod
    def from_url(cls, url: str, timeout: float) -> SmtpTransport:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("INCIDENTDESK_SMTP_URL must be smtp://host[:port] or smtps://host[:port]")
        implicit = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        starttls = not implicit and query.get("starttls", ["true"])[0].lower() not in {"false", "0", "no"}
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if implicit else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
            starttls=starttls,
            timeout=timeout,
        )

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.implicit_tls,
            start_tls=self.starttls,
            timeout=self.timeout,
        )


@dataclass(frozen=True)
class MaildirTransport:
    """Mails written to a Maildir (``incidentdesk mail list`` reads it): the development default."""

    path: Path

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._add, message)

    def _add(self, message: EmailMessage) -> None:
        mailbox.Maildir(self.path, create=True).add(message)


def maildir_path(settings: Settings) -> Path:
    return settings.data_dir / "mail"


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_url:
        return SmtpTransport.from_url(settings.smtp_url, settings.smtp_timeout_seconds)
    return MaildirTransport(maildir_path(settings))
