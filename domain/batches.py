"""Rows of one batched read laid out in the order of the keys asked for, as a DataLoader wants them.

A batch reads every key's rows in one statement; the caller gets back one answer per key, in the keys'
order: the row itself (None when none was found: absent, or outside the session's tenant scope), or the
list of a key's rows (empty when none), in the order the statement read them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


def one_each(keys: Sequence[K], rows: Iterable[R], key: Callable[[R], K]) -> list[R | None]:
    found = {key(row): row for row in rows}
    return [found.get(k) for k in keys]


def all_each(keys: Sequence[K], rows: Iterable[R], key: Callable[[R], K]) -> list[list[R]]:
    grouped: dict[K, list[R]] = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    return [grouped.get(k, []) for k in keys]
