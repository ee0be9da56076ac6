"""Automatic Persisted Queries, as Apollo's clients speak them.

A client sends ``extensions.persistedQuery = {"version": 1, "sha256Hash": ...}`` with or without the
query text. Without it, a known hash stands for its text; an unknown one answers
``PERSISTED_QUERY_NOT_FOUND`` and the client sends hash and text together, which this replica then
remembers (after checking that the hash is the text's). The store is per replica and bounded: a client
whose hash a replica does not know simply sends the text once more.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

MAX_PERSISTED = 10_000


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    code: str

    def body(self) -> dict[str, Any]:
        return {"errors": [{"message": self.message, "extensions": {"code": self.code}}]}


NOT_FOUND = Refusal(200, "PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")


class PersistedQueries:
    def __init__(self, capacity: int = MAX_PERSISTED) -> None:
        self._texts: LRUCache[str, str] = LRUCache(maxsize=capacity)

    def resolve(self, query: str | None, extensions: Any) -> str | Refusal | None:
        """The query text to run (None when the request names no persisted query and sends no text),
        or why the request is refused."""
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is None:
            return query
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            return Refusal(400, "Unsupported persisted query version", "BAD_USER_INPUT")
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or len(digest) != 64:
            return Refusal(400, "persistedQuery.sha256Hash must be a SHA-256 hex digest", "BAD_USER_INPUT")
        digest = digest.lower()
        if query is None:
            known = self._texts.get(digest)
            return known if known is not None else NOT_FOUND
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            return Refusal(400, "provided sha does not match query", "BAD_USER_INPUT")
        self._texts[digest] = query
        return query
