"""Building a GraphQL type from a row: every field of the type is read from the row's attribute of the
same name, and only what differs is written out.

A type's ``from_row`` names its exceptions and nothing else::

    return mapped(cls, row, id=encode_id("Incident", row.id), number=row.display_number, row=row)

Every other init field of the (Strawberry) dataclass without a default is copied from ``row``; a field
with a default keeps it unless given. The source may be any object with those attributes: an ORM row, a
domain record, a clock reading, a report's figures. Which names to copy is worked out once per class and
set of given names, not per row: ``from_row`` is on the read path, once per object in every answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# (class, the names given at a call) -> the names read from the source. A call site always gives the same
# names, so this holds one entry per from_row.
_COPIED: dict[tuple[type[Any], tuple[str, ...]], tuple[str, ...]] = {}


def copied_fields(cls: type[Any], given: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The init fields of ``cls`` read from the source: those without a default, less those given."""
    key = (cls, given)
    names = _COPIED.get(key)
    if names is None:
        names = tuple(
            f.name
            for f in dataclasses.fields(cls)
            if f.init
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and f.name not in given
        )
        _COPIED[key] = names
    return names


def mapped(cls: type[T], source: object, /, **given: Any) -> T:
    """An instance of the dataclass ``cls``: the ``given`` values, and every other field without a default
    read from ``source``'s attribute of the same name (an absent attribute is an AttributeError)."""
    for name in copied_fields(cls, tuple(given)):
        given[name] = getattr(source, name)
    # mypy sees an unbound ``type[T]`` as taking no arguments; the dataclass takes its fields.
    build: Callable[..., T] = cls
    return build(**given)
