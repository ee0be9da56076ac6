"""The trace context travels with an event to its webhooks: ``traceparent`` on events and deliveries.

An event written while its request was traced keeps the request's W3C ``traceparent``; the webhook
fan-out copies it to each delivery, and the worker sends the delivery in that trace, so a partner's
request shows up under the mutation that caused it. Both columns are nullable and stay NULL when
tracing is off (``domain/trace_context.py``); adding them rewrites no rows.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | tuple[str, ...] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("incident_events", sa.Column("traceparent", sa.Text(), nullable=True))
    op.add_column("webhook_deliveries", sa.Column("traceparent", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("webhook_deliveries", "traceparent")
    op.drop_column("incident_events", "traceparent")
