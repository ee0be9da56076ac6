"""Access notices: when may a replica trust what it has cached about who may see what.

Principals (a token's memberships and operator status) and tenant slugs are cached per replica, so that
a request with a known token touches no database before its own reads; the alert intake caches routing
keys the same way. The tables behind them (memberships, operators, tenants, OAuth clients, integration
keys) notify ``incidentdesk_access`` when a transaction
changing them commits (migration 0007's triggers), whoever changed them and however. The process's
LISTEN connection relays each notice here, and every cache built on ``AccessNotices`` drops what it holds.

A notice can be missed only while the LISTEN connection is down; so caches hold nothing unless it is up,
and drop everything when it goes down or comes back. No entry outlives ``MAX_AGE_SECONDS`` in any case:
that bounds how stale an answer can be if a notice were lost some other way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

ACCESS_CHANNEL = "incidentdesk_access"
MAX_AGE_SECONDS = 60.0

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class AccessNotices:
    def __init__(self) -> None:
        self.generation = 0
        self.listening = False
        self._caches: list[Callable[[], None]] = []
        # Long-lived holders of rights (open WebSockets), told after the caches are cleared.
        self._watchers: set[Callable[[], None]] = set()

    def changed(self) -> None:
        """Something behind the caches changed (or may have, unheard): forget everything."""
        self.generation += 1
        for clear in self._caches:
            clear()
        for watcher in list(self._watchers):
            watcher()

    def watch(self, watcher: Callable[[], None]) -> None:
        """Call ``watcher`` on every notice until ``unwatch``: a connection that holds a caller's rights
        for its whole life checks them again."""
        self._watchers.add(watcher)

    def unwatch(self, watcher: Callable[[], None]) -> None:
        self._watchers.discard(watcher)

    def set_listening(self, listening: bool) -> None:
        self.listening = listening
        self.changed()

    def register(self, clear: Callable[[], None]) -> None:
        self._caches.append(clear)


class AccessCache(Generic[K, V]):
    """A bounded cache whose entries live until their own deadline (wall clock, e.g. a token's expiry)
    or ``MAX_AGE_SECONDS``, whichever comes first, and only while access notices are heard.

    A plain dict, not a cachetools cache: every request reads two of these, and a dict lookup with one
    clock comparison costs a tenth of a TLRU cache's Python-level bookkeeping. When full, the oldest entry
    goes first (dicts keep insertion order); an expired entry goes when it is next looked up.
    """

    def __init__(self, notices: AccessNotices, *, capacity: int = 10_000, max_age: float = MAX_AGE_SECONDS):
        self.notices = notices
        self.capacity = capacity
        self.max_age = max_age
        # key -> (value, deadline on the monotonic clock)
        self._entries: dict[K, tuple[V, float]] = {}
        self.hits = 0
        self.misses = 0
        notices.register(self._entries.clear)

    def get(self, key: K) -> V | None:
        found = self._entries.get(key) if self.notices.listening else None
        if found is not None:
            if found[1] > time.monotonic():
                self.hits += 1
                return found[0]
            self._entries.pop(key, None)
        self.misses += 1
        return None

    def generation(self) -> int:
        """Read before loading a value; ``put`` it with this, so a notice arriving meanwhile wins."""
        return self.notices.generation

    def put(self, key: K, value: V, generation: int, *, until: float | None = None) -> None:
        """Keep ``value`` until the wall-clock time ``until`` (or ``MAX_AGE_SECONDS``)."""
        if not self.notices.listening or generation != self.notices.generation:
            return
        lifetime = self.max_age if until is None else min(self.max_age, until - time.time())
        if lifetime <= 0:
            return
        if key not in self._entries and len(self._entries) >= self.capacity:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (value, time.monotonic() + lifetime)
