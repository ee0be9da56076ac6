"""Keyset cursors: the sort key's values of a row, as an opaque string.

A cursor is unpadded URL-safe base64 of a compact JSON list of the values (a timestamp as
``{"t": isoformat}``). Compiled reads build the same string inside PostgreSQL (``cursor_sql``), so the two
forms are written side by side here.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func

from domain.reads.sql import const


class InvalidCursor(ValueError):
    """A cursor this service did not write (malformed, forged, or of another listing's order)."""


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps(list(values), default=_json_default, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list):
            raise InvalidCursor(cursor)
        # Every integer a cursor carries is a bigint column's value; anything larger is forged.
        if any(isinstance(v, int) and not -(2**63) <= v < 2**63 for v in values):
            raise InvalidCursor(cursor)
        return [datetime.fromisoformat(v["t"]) if isinstance(v, dict) and "t" in v else v for v in values]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise InvalidCursor(cursor) from None


def typed_values(values: Sequence[Any], kinds: Sequence[type]) -> tuple[Any, ...]:
    """A decoded cursor's values as the sort columns' Python types; InvalidCursor when they do not fit
    (another listing's cursor, a hand-made one)."""
    if len(values) != len(kinds):
        raise InvalidCursor("wrong length")
    return tuple(_typed(value, kind) for value, kind in zip(values, kinds, strict=True))


def _typed(value: Any, kind: type) -> Any:
    try:
        if isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool):
            return value
        if isinstance(value, str) and (kind is uuid.UUID or issubclass(kind, enum.Enum)):
            return kind(value)
    except ValueError:
        pass
    raise InvalidCursor(f"not a {kind.__name__}")


def cursor_sql(columns: Sequence[tuple[ColumnElement[Any], type]]) -> ColumnElement[str]:
    """``encode_cursor`` of a row's sort key, computed by PostgreSQL (see migration 0007's functions)."""
    body: ColumnElement[str] = const("[")
    for index, (column, kind) in enumerate(columns):
        if index:
            body = body + const(",")
        if kind is datetime:
            body = body + const('{"t":"') + func.incidentdesk_iso_time(column, type_=String) + const('"}')
        elif kind is uuid.UUID:
            body = body + const('"') + cast(column, String) + const('"')
        elif kind is int:
            body = body + cast(column, String)
        else:  # text and enum names: JSON strings
            body = body + cast(func.to_json(column), String)
    encoded: ColumnElement[str] = func.incidentdesk_base64url(body + const("]"), type_=String)
    return encoded
