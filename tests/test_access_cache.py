"""The per-replica caches of who may see what: bounded, expiring, and empty unless notices are heard."""

from __future__ import annotations

import time

from domain.access import AccessCache, AccessNotices


def listening() -> AccessNotices:
    notices = AccessNotices()
    notices.set_listening(True)
    return notices


def test_nothing_is_kept_while_notices_are_not_heard() -> None:
    notices = AccessNotices()
    cache: AccessCache[str, int] = AccessCache(notices)
    cache.put("alice", 1, cache.generation())
    assert cache.get("alice") is None
    notices.set_listening(True)
    cache.put("alice", 1, cache.generation())
    assert cache.get("alice") == 1
    notices.set_listening(False)
    assert cache.get("alice") is None


def test_a_notice_drops_everything_and_a_load_begun_before_it_is_not_kept() -> None:
    notices = listening()
    cache: AccessCache[str, int] = AccessCache(notices)
    cache.put("alice", 1, cache.generation())
    started = cache.generation()
    notices.changed()
    assert cache.get("alice") is None
    cache.put("alice", 2, started)
    assert cache.get("alice") is None


def test_an_entry_lives_until_its_own_deadline_or_the_maximum_age() -> None:
    cache: AccessCache[str, int] = AccessCache(listening(), max_age=3600)
    cache.put("expired", 1, cache.generation(), until=time.time() - 1)
    cache.put("short", 2, cache.generation(), until=time.time() + 3600)
    assert cache.get("expired") is None and cache.get("short") == 2
    aged: AccessCache[str, int] = AccessCache(listening(), max_age=0)
    aged.put("alice", 1, aged.generation())
    assert aged.get("alice") is None


def test_a_full_cache_drops_its_oldest_entry() -> None:
    cache: AccessCache[str, int] = AccessCache(listening(), capacity=2)
    for n, key in enumerate(("a", "b", "c")):
        cache.put(key, n, cache.generation())
    assert cache.get("a") is None and cache.get("b") == 1 and cache.get("c") == 2
    assert (cache.hits, cache.misses) == (2, 1)
