"""The mail outbox: one row per mail, from queued to sent (or given up)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.columns import TenantOwned, timestamp, utcnow
from domain.db import Base


class OutgoingMail(TenantOwned, Base):
    __tablename__ = "outgoing_mails"
    __table_args__ = (
        Index(
            "ix_outgoing_mails_due",
            "next_attempt_at",
            postgresql_where=text("sent_at IS NULL AND NOT given_up"),
        ),
    )

    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    # A mail queued with its text; NULL for a notice, written when sent from ``template`` and ``context``
    # (``domain/mail/rendering.py``), because its links are signed by the sending process.
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    template: Mapped[str | None] = mapped_column(String(64))
    # The notice's facts and its links ({"links": {name: Link.as_json()}, ...}).
    context: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Extra headers, e.g. List-Unsubscribe; never From, To, Subject, Date or Message-ID (set when sent).
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Why the mail exists, e.g. "incident.public_update": for the log and the operator, never shown.
    reason: Mapped[str] = mapped_column(String(64))
    # The same Message-ID on every attempt, so a receiver can tell a resend from a new mail.
    message_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = timestamp(default=utcnow)
    next_attempt_at: Mapped[datetime] = timestamp(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = timestamp()
    given_up: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text)
