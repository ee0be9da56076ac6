"""The mail worker: sends due mails, one process's share at a time, and records each outcome."""

from __future__ import annotations

import logging
from datetime import timedelta

from domain.background import RoundWorker
from domain.columns import utcnow
from domain.db import Database
from domain.mail import outbox
from domain.mail.links import MailLinks
from domain.mail.transports import Transport, message_of, transport_for
from domain.outbox.listener import Listener
from domain.settings import Settings

log = logging.getLogger(__name__)

BATCH = 50


class MailWorker(RoundWorker):
    name = "mail-worker"

    def __init__(self, db: Database, settings: Settings, transport: Transport | None = None) -> None:
        super().__init__()
        self.db = db
        self.settings = settings
        self.transport = transport or transport_for(settings)
        self.links = MailLinks.for_settings(settings)
        # Long enough for one batch over a slow server; past it another process may send the mail again.
        self.lease = timedelta(seconds=settings.smtp_timeout_seconds * 2 + 60)

    def watch(self, listener: Listener) -> None:
        """Wake when a transaction that queued mail commits (the mail channel), whichever process it ran
        in; past that, at the next due retry or every ``mail_poll_seconds``."""
        self.hear(listener.mail_watchers, self.wake)

    def retry_delay(self, attempts: int) -> float:
        delay: float = self.settings.mail_retry_base_seconds * 2.0 ** (attempts - 1)
        return min(delay, self.settings.mail_retry_max_seconds)

    async def round(self) -> float | None:
        tenants = await self.db.all_tenant_ids()
        if not tenants:
            return self.settings.mail_poll_seconds
        mails = await outbox.claim_due(self.db, tenants, limit=BATCH, lease=self.lease)
        for mail in mails:
            try:
                await self.transport.send(message_of(mail, self.settings.mail_from, self.links))
            except Exception as error:
                # The recipient is personal data: the log names the mail, not the address.
                give_up = mail.attempts >= self.settings.mail_max_attempts
                retry_at = None if give_up else utcnow() + timedelta(seconds=self.retry_delay(mail.attempts))
                log.warning(
                    "mail %s (%s) not sent, attempt %d: %s%s",
                    mail.id,
                    mail.reason,
                    mail.attempts,
                    type(error).__name__,
                    "; given up" if give_up else "",
                )
                await outbox.record_failure(
                    self.db, mail, error=f"{type(error).__name__}: {error}", retry_at=retry_at
                )
            else:
                await outbox.record_sent(self.db, mail)
        if mails:
            return None
        return self.rest_until(await outbox.next_due(self.db, tenants), self.settings.mail_poll_seconds)
