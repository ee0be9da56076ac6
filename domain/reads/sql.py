"""Small SQL building blocks of the read compiler."""

from __future__ import annotations

from sqlalchemy import ColumnElement, String, literal_column


def const(value: str) -> ColumnElement[str]:
    """A text constant written into the statement itself rather than bound: JSON keys, type names and
    cursor punctuation belong to the statement's shape, and a bound value would cost a parameter each."""
    return literal_column("'" + value.replace("'", "''") + "'", String)
