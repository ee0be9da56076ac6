"""The cycle collector's schedule (``api/cycle_collector.py``), with the process's real collector: what
lived through a round is frozen out of collections, and cyclic garbage among the frozen is reclaimed once
the frozen generation has grown by a quarter, or after ``reclaim_every``."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator

import pytest_asyncio

from api.cycle_collector import CycleCollector
from tests.waiting import eventually_async


class Connection:
    """Stands for a closed connection's objects: a cycle only the collector can free."""

    def __init__(self) -> None:
        self.me = self


@pytest_asyncio.fixture
async def collector() -> AsyncIterator[CycleCollector]:
    worker = CycleCollector(interval=3600, reclaim_every=3600)
    worker.start()
    try:
        yield worker
    finally:
        await worker.stop()
    assert gc.get_freeze_count() == 0  # stopped: the process is back on CPython's schedule


async def test_what_lived_through_a_round_is_frozen_and_its_garbage_reclaimed_on_growth(
    collector: CycleCollector,
) -> None:
    assert collector.reclaims == 1 and gc.get_freeze_count() > 0  # what the process loaded
    closed = Connection()
    gone = weakref.ref(closed)
    collector.tick()
    del closed
    gc.collect()
    assert gone() is not None, "a frozen cycle is not collected"

    # A quarter more objects live through a round: the next one reclaims what the frozen hold.
    crowd = [[] for _ in range(gc.get_freeze_count() // 3)]
    collector.tick()
    assert collector.reclaims == 2 and gone() is None
    assert gc.get_freeze_count() >= len(crowd)  # the living are frozen again


async def test_young_garbage_is_collected_before_a_round_freezes(collector: CycleCollector) -> None:
    closed = Connection()
    gone = weakref.ref(closed)
    del closed
    collector.tick()
    assert gone() is None


async def test_a_second_collector_in_the_process_leaves_it_to_the_first(collector: CycleCollector) -> None:
    second = CycleCollector(interval=3600, reclaim_every=3600)
    second.start()
    frozen = gc.get_freeze_count()
    await second.stop()
    assert second.reclaims == 0 and gc.get_freeze_count() == frozen


async def test_a_round_reclaims_after_reclaim_every_even_without_growth() -> None:
    worker = CycleCollector(interval=0.01, reclaim_every=0.05)
    worker.start()
    try:
        first = worker.reclaims
        await eventually_async(lambda: worker.reclaims > first, "a reclaim with nothing grown")
    finally:
        await worker.stop()
