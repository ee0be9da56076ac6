"""JSON written as text by SQL: the read compiler's objects, arrays and quoted values.

Building text costs PostgreSQL a fraction of what ``json_build_object`` does, and the text is the
response body as it comes. Every value reaching these helpers is already rendered as its JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, func
from sqlalchemy.dialects.postgresql import aggregate_order_by

from domain.reads.sql import const

# concat() takes at most 100 arguments; longer objects nest their parts.
MAX_ARGUMENTS = 100
# Up to this many parts are joined with ||.
PIPED = 16


def concat(parts: Sequence[ColumnElement[Any] | str]) -> ColumnElement[str]:
    """The parts' text run together; ``str`` parts are JSON punctuation, written into the statement (and
    neighbours merged, so an object's constant text between two values is one literal).

    A few parts are joined with ``||`` (cheapest, and null when a part is: every value is rendered
    non-null first); many with ``concat``, whose one pass avoids copying a growing text again and
    again."""
    merged: list[ColumnElement[Any] | str] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    pieces = [const(p) if isinstance(p, str) else p for p in merged]
    if len(pieces) <= PIPED:
        joined: ColumnElement[str] = pieces[0]
        for piece in pieces[1:]:
            joined = joined + piece
        return joined
    while len(pieces) > MAX_ARGUMENTS:
        pieces = [
            func.concat(*pieces[i : i + MAX_ARGUMENTS], type_=String)
            for i in range(0, len(pieces), MAX_ARGUMENTS)
        ]
    concatenated: ColumnElement[str] = func.concat(*pieces, type_=String)
    return concatenated


def json_object(pairs: Sequence[tuple[str, ColumnElement[Any]]]) -> ColumnElement[str]:
    """A JSON object of the pairs, keys in order. Keys are GraphQL response names: nothing to escape."""
    parts: list[ColumnElement[Any] | str] = ["{"]
    for index, (key, value) in enumerate(pairs):
        parts += [("," if index else "") + json.dumps(key) + ":", value]
    parts.append("}")
    return concat(parts)


def json_array(
    items: ColumnElement[Any], order: Sequence[ColumnElement[Any]], kept: ColumnElement[bool] | None = None
) -> ColumnElement[str]:
    """A JSON array of the rows' items, in ``order`` (only the ``kept`` rows); empty for no rows."""
    aggregated = func.string_agg(items, aggregate_order_by(const(","), *order), type_=String)
    joined: ColumnElement[str] = aggregated.filter(kept) if kept is not None else aggregated
    return concat(["[", func.coalesce(joined, const("")), "]"])


def quoted(value: ColumnElement[Any]) -> ColumnElement[str]:
    """A JSON string of text that needs no escaping (a formatted time, base64); null stays null (``||``
    propagates it, where ``concat`` would write an empty string)."""
    text: ColumnElement[str] = const('"') + value + const('"')
    return text


def or_null(value: ColumnElement[Any]) -> ColumnElement[str]:
    """The value's text, or JSON's null where it is null."""
    return func.coalesce(value, const("null"), type_=String)
