"""The time window ``[from, to)`` a report or a search reads: after its start, and bounded when it must be."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.errors import ErrorCode, Refused, invalid


def check_window(start: datetime, end: datetime, *, at_most_days: int | None = None, what: str = "") -> None:
    """Refuse a window whose end is not after its start, or (when bounded) longer than ``at_most_days``;
    ``what`` names it in the refusal (``"a trend"``)."""
    if end <= start:
        raise invalid("must be after from", "to")
    if at_most_days is not None and end - start > timedelta(days=at_most_days):
        raise Refused.one(ErrorCode.LIMIT_EXCEEDED, f"{what} covers at most {at_most_days} days", "to")
