"""Mails written when they are sent: a queued notice keeps its template, facts and links.

Links in a mail are signed by the process that sends it (``domain/mail/rendering.py``), so a notice is
stored as the name of its template and its context (JSON), and its text is made at each attempt.
Mails queued with their text keep it; ``text_body`` is NULL when ``template`` is set
(``queue_mail`` and ``queue_notice`` write one or the other).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | tuple[str, ...] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outgoing_mails", sa.Column("template", sa.String(64), nullable=True))
    op.add_column("outgoing_mails", sa.Column("context", postgresql.JSONB(), nullable=True))
    op.alter_column("outgoing_mails", "text_body", nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM outgoing_mails WHERE template IS NOT NULL")
    op.alter_column("outgoing_mails", "text_body", nullable=False)
    op.drop_column("outgoing_mails", "context")
    op.drop_column("outgoing_mails", "template")
