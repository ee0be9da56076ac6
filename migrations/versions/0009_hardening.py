"""Signing key rotation: a rotated key verifies until ``retire_after``, then leaves the JWKS.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | tuple[str, ...] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("signing_keys", sa.Column("retire_after", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("signing_keys", "retire_after")
