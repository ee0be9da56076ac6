"""Billing tables: the tenant's billing months. Work entries themselves live with the incident
(``work_log`` in ``domain/incidents/models.py``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from domain.columns import timestamp
from domain.db import Base


class BillingPeriod(Base):
    """One month of a tenant's books, in the tenant's own calendar: open until a MANAGER closes it.

    A row appears with the first work entry dated in the month (or when the month is closed). Every
    change to an entry holds a share lock on its month's row and closing takes the row for update, so an
    entry can never slip into a month that is being closed.
    """

    __tablename__ = "billing_periods"
    __table_args__ = (CheckConstraint("EXTRACT(DAY FROM month) = 1", name="ck_billing_periods_first_day"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    # The first day of the month.
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    closed_at: Mapped[datetime | None] = timestamp()
    closed_by: Mapped[str | None] = mapped_column(String(255))
