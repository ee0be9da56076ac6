"""The queries a replica answered lately, by their raw request: decoded and prepared once, not per request.

Portals poll with byte-identical requests. Decoding the JSON body, resolving a persisted query and
finding its prepared document is a measurable share of answering ``{ __typename }``, so the hot path
keeps what the bytes decoded to. Only requests the hot path takes are kept (queries whose text is known:
an unknown persisted hash may become known later), only small ones, and only so many: the oldest goes
first. What is kept depends on the bytes alone, never on who sent them.
"""

from __future__ import annotations

from typing import Generic, TypeVar

MAX_REQUESTS = 1_000
MAX_REQUEST_BYTES = 8_192

V = TypeVar("V")

# (method, query string, body)
RawRequest = tuple[str, bytes, bytes]


class RecentQueries(Generic[V]):
    """A bounded dict: a lookup costs one hash of the request's bytes."""

    def __init__(self, capacity: int = MAX_REQUESTS, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._entries: dict[RawRequest, V] = {}

    def get(self, request: RawRequest) -> V | None:
        return self._entries.get(request)

    def put(self, request: RawRequest, value: V) -> V:
        """Keep ``value`` when the request is small enough; return it either way."""
        if len(request[1]) + len(request[2]) <= self.max_bytes:
            if request not in self._entries and len(self._entries) >= self.capacity:
                del self._entries[next(iter(self._entries))]
            self._entries[request] = value
        return value
