"""Custom scalars of the contract: DateTime (RFC 3339, UTC on output) and JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry


def _serialize_datetime(value: datetime) -> str:
    """RFC 3339 in UTC, seconds' fraction without trailing zeros (none at all on a whole second): the
    form PostgreSQL writes a timestamp in, so compiled reads format times at no cost."""
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an RFC 3339 string")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("DateTime needs an offset, e.g. 2026-03-29T09:00:00+02:00 or ...Z")
    return parsed.astimezone(UTC)


DateTime = strawberry.scalar(
    datetime,
    name="DateTime",
    description="RFC 3339 date-time with offset; always UTC on output",
    serialize=_serialize_datetime,
    parse_value=_parse_datetime,
)

# The contract's JSON scalar is strawberry's own.
from strawberry.scalars import JSON  # noqa: E402

__all__ = ["JSON", "DateTime"]
