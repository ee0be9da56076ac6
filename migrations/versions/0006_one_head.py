"""One head again: the practice, bulletins, integrations and SLA branches grew side by side from 0001.

A merge point with no schema change of its own, so that every later revision has a single parent.

Revision ID: 0006
Revises: 0002, 0003, 0004, 0005
Create Date: 2026-11-27
"""

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | tuple[str, ...] | None = ("0002", "0003", "0004", "0005")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
