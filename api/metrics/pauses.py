"""How long Python's cycle collector stopped the process: every collection, timed by ``gc.callbacks``.

A full collection of a process holding thousands of connections stops it for seconds
(``api/cycle_collector.py``), and every live delivery and HTTP answer waits behind it: the pauses are
served as a histogram per generation (0 and 1: young, 2: full), with the objects kept frozen out of
collections. One timer per process (the collector is the process's), read by every app's registry.
"""

from __future__ import annotations

import bisect
import gc
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
GENERATIONS = (0, 1, 2)


class Pauses:
    """Counts per generation and bucket, kept by a ``gc.callbacks`` hook (a few arithmetic operations
    per collection)."""

    def __init__(self) -> None:
        self.counts = {g: [0] * (len(BUCKETS) + 1) for g in GENERATIONS}
        self.sums = dict.fromkeys(GENERATIONS, 0.0)
        self._started = 0.0

    def hook(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        generation = info["generation"]
        self.sums[generation] += seconds
        # The first bucket whose bound is at least the pause; past the last bound, +Inf's.
        self.counts[generation][bisect.bisect_left(BUCKETS, seconds)] += 1


_PAUSES: list[Pauses] = []


def pauses() -> Pauses:
    """The process's timer, hooked into the collector on first use."""
    if not _PAUSES:
        timer = Pauses()
        gc.callbacks.append(timer.hook)
        _PAUSES.append(timer)
    return _PAUSES[0]


class PauseCollector(Collector):
    def __init__(self, timer: Pauses) -> None:
        self.timer = timer

    def collect(self) -> Iterable[Metric]:
        histogram = HistogramMetricFamily(
            "incidentdesk_gc_pause_seconds",
            "How long each collection of Python's cycle collector stopped the process, by generation"
            " (2: a full collection)",
            labels=["generation"],
        )
        for generation in GENERATIONS:
            counts = self.timer.counts[generation]
            cumulative, buckets = 0, []
            for bound, count in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            histogram.add_metric([str(generation)], buckets, self.timer.sums[generation])
        yield histogram
        yield GaugeMetricFamily(
            "incidentdesk_gc_frozen_objects",
            "Objects frozen out of collections (api/cycle_collector.py; 0 on CPython's own schedule)",
            value=gc.get_freeze_count(),
        )
