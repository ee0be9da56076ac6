"""Where mails go: an SMTP server (aiosmtplib), or a Maildir when none is configured."""

from __future__ import annotations

import asyncio
import email.policy
import mailbox
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from domain.columns import utcnow
from domain.mail.links import MailLinks
from domain.mail.models import OutgoingMail
from domain.mail.rendering import Link, render_body
from domain.settings import Settings

# Headers are not folded below RFC 5322's own limit of 998: folding a List-Unsubscribe URL would turn it
# into encoded words that no mail client follows.
_UNFOLDED = email.policy.default.clone(max_line_length=998)


def message_of(mail: OutgoingMail, sender: str, links: MailLinks) -> EmailMessage:
    """The mail as sent: text, and HTML as its alternative when it has one; a notice is written now,
    its links signed by ``links``."""
    if mail.template is not None:
        context = dict(mail.context or {})
        wanted = {name: Link.from_json(value) for name, value in context.pop("links", {}).items()}
        rendered = render_body(mail.template, context, wanted, links)
        text, html, headers = rendered.text, rendered.html, {**mail.headers, **rendered.headers}
    else:
        text, html, headers = mail.text_body or "", mail.html_body, mail.headers
    message = EmailMessage(policy=_UNFOLDED)
    message["From"] = sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = mail.message_id
    for name, value in headers.items():
        message[name] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
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
        # Flattened here, with the message's own policy: aiosmtplib's would fold long headers again.
        sender, recipients = message["From"], [message["To"]]
        await aiosmtplib.send(
            message.as_bytes(policy=_UNFOLDED.clone(linesep="\r\n")),
            sender=sender,
            recipients=recipients,
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
        mailbox.Maildir(self.path, create=True).add(message.as_bytes(policy=_UNFOLDED))


def maildir_path(settings: Settings) -> Path:
    return settings.data_dir / "mail"


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_url:
        return SmtpTransport.from_url(settings.smtp_url, settings.smtp_timeout_seconds)
    return MaildirTransport(maildir_path(settings))
