"""The cycle collector's schedule (``api/cycle_collector.py``), with the process's real collector: what
lived through a round is frozen out of collections, and cyclic garbage among the frozen is reclaimed once
the WebSockets closed since the last reclaim number a quarter of those open, or after ``reclaim_every``."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio

from api.cycle_collector import CycleCollector
from tests.waiting import eventually_async


class Connection:
    """Stands for a closed connection's objects: a cycle only the collector can free."""

    def __init__(self) -> None:
        self.me = self


@dataclass
class Sockets:
    open_sockets: int = 0
    closed_sockets: int = 0


@pytest_asyncio.fixture
async def sockets() -> Sockets:
    return Sockets()


@pytest_asyncio.fixture
async def collector(sockets: Sockets) -> AsyncIterator[CycleCollector]:
    worker = CycleCollector(sockets, interval=3600, reclaim_every=3600)
    worker.start()
    try:
        yield worker
    finally:
        await worker.stop()
    assert gc.get_freeze_count() == 0  # stopped: the process is back on CPython's schedule


async def test_frozen_garbage_is_reclaimed_once_a_quarter_of_the_connections_closed(
    collector: CycleCollector, sockets: Sockets
) -> None:
    assert collector.reclaims == 1 and gc.get_freeze_count() > 0  # what the process loaded
    sockets.open_sockets = 8
    connections = [Connection() for _ in range(sockets.open_sockets)]
    gone = weakref.ref(connections[0])
    collector.tick()

    # Connections arriving or staying cost no full collection.
    sockets.open_sockets += 4
    connections += [Connection() for _ in range(4)]
    collector.tick()
    assert collector.reclaims == 1

    # One of twelve closes: its cycle stays, frozen, until a quarter of the open ones have closed.
    del connections[0]
    sockets.open_sockets, sockets.closed_sockets = 11, 1
    gc.collect()
    collector.tick()
    assert collector.reclaims == 1 and gone() is not None, "a frozen cycle is not collected"
    del connections[:2]
    sockets.open_sockets, sockets.closed_sockets = 9, 3
    collector.tick()
    assert collector.reclaims == 2 and gone() is None
    assert all(gc.is_tracked(c) for c in connections) and gc.get_freeze_count() > 0  # the living, frozen


async def test_garbage_not_frozen_yet_is_collected_before_a_round_freezes(collector: CycleCollector) -> None:
    closed = Connection()
    gone = weakref.ref(closed)
    del closed
    collector.tick()
    assert gone() is None


async def test_a_second_collector_in_the_process_leaves_it_to_the_first(
    collector: CycleCollector, sockets: Sockets
) -> None:
    second = CycleCollector(sockets, interval=3600, reclaim_every=3600)
    second.start()
    frozen = gc.get_freeze_count()
    await second.stop()
    assert second.reclaims == 0 and gc.get_freeze_count() == frozen


async def test_a_round_reclaims_after_reclaim_every_even_without_churn(sockets: Sockets) -> None:
    worker = CycleCollector(sockets, interval=0.01, reclaim_every=0.05)
    worker.start()
    try:
        first = worker.reclaims
        await eventually_async(lambda: worker.reclaims > first, "a reclaim with no connection closed")
    finally:
        await worker.stop()
