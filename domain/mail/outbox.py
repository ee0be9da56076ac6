"""Queueing a mail, in the caller's transaction (it exists exactly when the change it tells of committed),
and the worker's statements: claiming due mails and recording what became of them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.channels import announce_mail
from domain.columns import utcnow
from domain.db import Database, Scope
from domain.errors import Refused, invalid
from domain.mail.models import OutgoingMail
from domain.mail.rendering import Link, render_subject, template_exists

MAX_SUBJECT = 300
# Headers a mail sets itself when it is sent; a queued mail may not set them.
RESERVED = frozenset({"from", "to", "cc", "bcc", "subject", "date", "message-id"})
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")
# The table itself, for inserts of many rows without an ORM object each.
_MAILS = cast(Table, OutgoingMail.__table__)


def checked_address(text: str, *field: str) -> str:
    """One mailbox (``someone@example.com``), lower-cased domain, no display name; anything that would
    let a value reach another header (line breaks, several addresses) is refused."""
    value = text.strip()
    if not value or len(value) > 320 or any(c in value for c in '\r\n,;<>"()') or value.count("@") != 1:
        raise invalid("must be one email address", *field)
    local, _, domain = value.partition("@")
    try:
        address = Address(username=local, domain=domain.lower())
    except (ValueError, IndexError, HeaderParseError):
        raise invalid("must be one email address", *field) from None
    if not local or "." not in domain or domain.startswith(".") or domain.endswith("."):
        raise invalid("must be one email address", *field)
    return address.addr_spec


def _one_line(value: str, limit: int) -> str:
    # A header value never spans lines: a line break would start a header of the value's choosing.
    return " ".join(value.split())[:limit]


async def queue_mail(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    to: str,
    subject: str,
    text: str,
    reason: str,
    html: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> OutgoingMail:
    """Add a mail to the outbox within the caller's transaction; the mail worker sends it after commit."""
    extra = {}
    for name, value in (headers or {}).items():
        if not _HEADER_NAME.fullmatch(name) or name.lower() in RESERVED:
            raise ValueError(f"a queued mail may not set the header {name!r}")
        extra[name] = _one_line(value, 2000)
    await announce_mail(session)
    return _queued(
        session,
        tenant_id=tenant_id,
        to=to,
        subject=subject,
        reason=reason,
        text_body=text,
        html_body=html,
        headers=extra,
    )


async def queue_notice(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    to: str,
    template: str,
    context: Mapping[str, Any],
    reason: str,
    links: Mapping[str, Link] | None = None,
) -> OutgoingMail:
    """Add a notice to the outbox within the caller's transaction: a mail written from ``template`` when
    it is sent, with ``links`` signed then (``domain/mail/rendering.py``). ``context`` must be JSON."""
    if not template_exists(template):
        raise ValueError(f"no mail template {template!r}")
    stored = {**context, "links": {name: link.as_json() for name, link in (links or {}).items()}}
    await announce_mail(session)
    return _queued(
        session,
        tenant_id=tenant_id,
        to=to,
        subject=render_subject(template, context),
        reason=reason,
        template=template,
        context=stored,
    )


async def queue_notices(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    template: str,
    context: Mapping[str, Any],
    reason: str,
    recipients: Iterable[tuple[str, Mapping[str, Link]]],
) -> int:
    """Add the same notice for many recipients, each with links of its own (say, an unsubscribe link
    naming its subscriber), within the caller's transaction; how many were added.

    One INSERT of the table's rows for all of them (the driver sends them in batches), no ORM object
    each: a bulletin may go to thousands of subscribers inside the bulletin's own transaction. A stored
    address that is not one plain mailbox (from an import, say) is left out rather than refused: it must
    not undo the change that every other recipient hears of."""
    if not template_exists(template):
        raise ValueError(f"no mail template {template!r}")
    subject = render_subject(template, context)
    rows = []
    for to, links in recipients:
        try:
            recipient = checked_address(to, "to")
        except Refused:
            continue
        stored = {**context, "links": {name: link.as_json() for name, link in links.items()}}
        rows.append(
            _row(
                tenant_id=tenant_id,
                recipient=recipient,
                subject=subject,
                reason=reason,
                template=template,
                context=stored,
            )
        )
    if rows:
        await session.execute(insert(_MAILS), rows)
        await announce_mail(session)
    return len(rows)


def _queued(
    session: AsyncSession, *, tenant_id: uuid.UUID, to: str, subject: str, reason: str, **content: Any
) -> OutgoingMail:
    recipient = checked_address(to, "to")
    mail = OutgoingMail(
        **_row(tenant_id=tenant_id, recipient=recipient, subject=subject, reason=reason, **content)
    )
    session.add(mail)
    return mail


def _row(
    *, tenant_id: uuid.UUID, recipient: str, subject: str, reason: str, **content: Any
) -> dict[str, Any]:
    """Every column of a new mail, due now; ``content`` is its text (``text_body``, ``html_body``,
    ``headers``) or its notice (``template``, ``context``)."""
    mail_id = uuid.uuid4()
    now = utcnow()
    return {
        "tenant_id": tenant_id,
        "id": mail_id,
        "recipient": recipient,
        "subject": _one_line(subject, MAX_SUBJECT),
        "text_body": None,
        "html_body": None,
        "template": None,
        "context": None,
        "headers": {},
        "reason": reason,
        # The same Message-ID on every attempt, so a receiver can tell a resend from a new mail.
        "message_id": f"<{mail_id}@incidentdesk>",
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
        "sent_at": None,
        "given_up": False,
        "last_error": None,
        **content,
    }


# ---------------------------------------------------------------- the worker's statements


async def claim_due(
    db: Database, tenants: frozenset[uuid.UUID], *, limit: int, lease: timedelta
) -> list[OutgoingMail]:
    """Due mails, claimed for ``lease`` and counted as attempted: past the lease, another round sends
    them again (at least once)."""
    now = utcnow()
    async with db.transaction(Scope.of(tenants)) as session:
        mails = list(
            await session.scalars(
                select(OutgoingMail)
                .where(
                    OutgoingMail.sent_at.is_(None),
                    OutgoingMail.given_up.is_(False),
                    OutgoingMail.next_attempt_at <= now,
                )
                .order_by(OutgoingMail.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for mail in mails:
            mail.next_attempt_at = now + lease
            mail.attempts += 1
    return mails


async def record_sent(db: Database, mail: OutgoingMail) -> None:
    async with db.transaction(Scope.of([mail.tenant_id])) as session:
        await session.execute(
            update(OutgoingMail)
            .where(OutgoingMail.tenant_id == mail.tenant_id, OutgoingMail.id == mail.id)
            .values(sent_at=utcnow(), last_error=None)
        )


async def record_failure(db: Database, mail: OutgoingMail, *, error: str, retry_at: datetime | None) -> None:
    """A failed attempt: tried again at ``retry_at``, or given up when None."""
    async with db.transaction(Scope.of([mail.tenant_id])) as session:
        await session.execute(
            update(OutgoingMail)
            .where(OutgoingMail.tenant_id == mail.tenant_id, OutgoingMail.id == mail.id)
            .values(
                last_error=error[:1000],
                given_up=retry_at is None,
                next_attempt_at=retry_at if retry_at is not None else OutgoingMail.next_attempt_at,
            )
        )


async def next_due(db: Database, tenants: frozenset[uuid.UUID]) -> datetime | None:
    async with db.transaction(Scope.of(tenants)) as session:
        due: datetime | None = await session.scalar(
            select(func.min(OutgoingMail.next_attempt_at)).where(
                OutgoingMail.sent_at.is_(None), OutgoingMail.given_up.is_(False)
            )
        )
    return due
