"""Python's cycle collector, scheduled for a process that holds thousands of long-lived connections.

CPython's collector now and then scans every object it tracks (a full collection). A process holding
10,000 live subscribers tracks about three million objects (a few hundred per connection: its protocol,
tasks, coroutines, handlers), and on a 2-core machine a full collection of them stopped the process for
2 to 3 seconds, measured with ``gc.callbacks``. Every live delivery and HTTP answer waits behind it. It is
set off by objects that outlived two young collections, and bursts of deliveries make plenty of those.

So what has lived for a while is frozen (``gc.freeze``): every ``interval`` seconds, everything not
frozen yet is collected (recent cyclic garbage is reclaimed, not frozen; this scans only what is younger
than ``interval``), and whatever remains moves to the permanent generation, which collections do not
scan. CPython's own collections then scan only what is younger than ``interval`` too.

Frozen objects that later become cyclic garbage (a closed connection's protocol, handlers and tasks)
stay until they are unfrozen. Closed connections are what leaves most of it, so they set the schedule:
once the WebSockets closed since the last reclaim number a quarter (``growth``) of those open, or
``reclaim_every`` seconds have passed, everything is unfrozen, collected in full, and frozen again. A
crowd of subscribers arriving, or staying, costs no full collection; a crowd leaving costs one per
quarter of it, as garbage of that size would under CPython's own rule.

One per process (the collector is the process's): a second app in the same process (tests) leaves it to
the first.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Protocol

from domain.background import RoundWorker

log = logging.getLogger(__name__)

_RUNNING: list[CycleCollector] = []


class Sockets(Protocol):
    """The process's WebSockets: how many are open, and how many have closed since it started."""

    @property
    def open_sockets(self) -> int: ...

    @property
    def closed_sockets(self) -> int: ...


class CycleCollector(RoundWorker):
    name = "cycle-collector"

    def __init__(
        self, sockets: Sockets, *, interval: float, reclaim_every: float, growth: float = 0.25
    ) -> None:
        super().__init__()
        self.sockets = sockets
        self.interval = interval
        self.reclaim_every = reclaim_every
        self.growth = growth
        self.reclaims = 0
        self._closed_before = 0
        self._reclaimed_at = 0.0
        self._owner = False

    def on_start(self) -> None:
        if _RUNNING:
            return
        _RUNNING.append(self)
        self._owner = True
        # What the process loaded to serve (modules, the schema) is never garbage.
        self.reclaim()

    def on_stop(self) -> None:
        if self._owner:
            _RUNNING.remove(self)
            self._owner = False
            gc.unfreeze()  # the process goes on with CPython's own schedule

    async def round(self) -> float:
        if self._owner:
            self.tick()
        return self.interval

    def tick(self) -> None:
        """Collect what is not frozen and freeze what survived; reclaim when enough connections closed
        since the last reclaim, or it was long ago."""
        gc.collect()
        gc.freeze()
        closed = self.sockets.closed_sockets - self._closed_before
        churned = closed > 0 and closed >= self.growth * self.sockets.open_sockets
        if churned or time.monotonic() - self._reclaimed_at >= self.reclaim_every:
            self.reclaim()

    def reclaim(self) -> None:
        """Unfreeze, collect everything, freeze what is left: the one full collection, done on purpose."""
        started = time.perf_counter()
        self._closed_before = self.sockets.closed_sockets
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        self._reclaimed_at = time.monotonic()
        self.reclaims += 1
        log.info(
            "full collection: %d objects reclaimed, %d kept frozen, %.0f ms",
            collected,
            gc.get_freeze_count(),
            (time.perf_counter() - started) * 1000,
        )
