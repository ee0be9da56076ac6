"""What the background loops (outbox hub and listener, maintenance mover, SLA scanner, webhook worker,
alert worker, auto-close, the idempotency purge, resealing secrets at rest) share: a start and a stop,
retrying with a backoff, working in rounds, sleeping until a signal or a deadline without ever swallowing
a cancellation, and ``Workers``, the list of them a process runs.

Every round that did work, and every failed attempt, is one line of the ``incidentdesk.jobs`` log with
the worker's name, its duration and its outcome (``ok``, ``failed``); idle rounds write nothing, so the
log shows what the background did rather than that it woke.

``asyncio.wait_for(event.wait(), t)`` on Python 3.11 returns normally when the event is set in the same
tick as the task is cancelled, so the cancellation is lost and ``stop()`` waits forever. Awaiting the
event directly under ``asyncio.timeout`` leaves the cancellation with the task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import TypeVar

log = logging.getLogger(__name__)
# One line per round that did work and per failure: fields, rendered by whatever configured logging.
jobs_log = logging.getLogger("incidentdesk.jobs")

T = TypeVar("T")

# A failed attempt is tried again after 1 s, 2 s, 4 s... at most this long.
MAX_BACKOFF_SECONDS = 30.0


def backoff(failures: int) -> float:
    """How long to wait after ``failures`` failed attempts in a row."""
    return min(MAX_BACKOFF_SECONDS, 0.5 * 2.0**failures)


async def wait_for_signal(signal: asyncio.Event, seconds: float) -> bool:
    """Sleep until ``signal`` is set or ``seconds`` pass; True when the signal woke us."""
    try:
        async with asyncio.timeout(max(0.0, seconds)):
            await signal.wait()
    except TimeoutError:
        return False
    return True


def _milliseconds(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


class Worker:
    """A loop this process runs in the background: ``start`` once it may run, ``stop`` when it must end.

    Subclasses write ``run`` (the loop; it handles and logs its own failures, so that one bad pass does
    not end it: ``retried`` does that for one piece of work) and, when they need them, ``on_start`` and
    ``on_stop`` (register and unregister hooks). A worker that reacts to what the process hears (the
    outbox hub's events, the listener's SLA notices) says so with ``hear``. Stopping cancels the loop and
    waits for it, so nothing it was doing outlives ``stop``.
    """

    name = "worker"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._hearing: list[tuple[list[Callable[..., None]], Callable[..., None]]] = []

    def hear(self, watchers: list[Callable[..., None]], callback: Callable[..., None]) -> None:
        """Have ``callback`` among ``watchers`` (a hub's ``watchers``, a listener's ``sla_watchers``)
        from ``start`` to ``stop``: a stopped worker is called by nothing, a restarted one again."""
        self._hearing.append((watchers, callback))

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            for watchers, callback in self._hearing:
                watchers.append(callback)
            self.on_start()
            self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        for watchers, callback in self._hearing:
            if callback in watchers:
                watchers.remove(callback)
        self.on_stop()
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    def on_start(self) -> None:
        """Called before the loop starts."""

    def on_stop(self) -> None:
        """Called before the loop is cancelled."""

    async def run(self) -> None:
        raise NotImplementedError

    async def retried(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()`` until it succeeds. Each failure is logged and followed by a longer pause
        (``backoff``), so that work depending on the database outlasts an outage without hammering it."""
        failures = 0
        while True:
            started = time.perf_counter()
            try:
                return await attempt()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                pause = backoff(failures)
                jobs_log.exception(
                    "job failed",
                    extra={
                        "worker": self.name,
                        "duration_ms": _milliseconds(started),
                        "outcome": "failed",
                        "error": type(error).__name__,
                        "failures": failures,
                        "retry_in_s": pause,
                    },
                )
                await asyncio.sleep(pause)


class RoundWorker(Worker):
    """A worker that works in rounds (``round``). A round that did work is followed at once by the next;
    after an idle one the loop sleeps until ``wake`` or the rest the round asked for; a failed round is
    logged and tried again after an exponential backoff, so one bad round never ends the loop.

    A chore done now and then (``round`` always asks for the same rest) sets ``first_round_after`` to
    keep its first round off a starting process."""

    # Seconds between start and the first round.
    first_round_after = 0.0

    def __init__(self) -> None:
        super().__init__()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        if self.first_round_after > 0:
            await asyncio.sleep(self.first_round_after)
        while True:
            rest = await self.retried(self._next_round)
            if rest is None:
                await asyncio.sleep(0)  # let the rest of the process run between busy rounds
                continue
            await wait_for_signal(self._wake, rest)

    async def _next_round(self) -> float | None:
        self._wake.clear()  # a wake-up from now on is news for the rest after this round
        started = time.perf_counter()
        rest = await self.round()
        # A busy round did work; a chore's round is its work, done now and then. An idle round of a loop
        # waiting for work is silent: it would be a line per wake-up and say nothing.
        if rest is None or self.first_round_after > 0:
            jobs_log.info(
                "job round",
                extra={"worker": self.name, "duration_ms": _milliseconds(started), "outcome": "ok"},
            )
        return rest

    @staticmethod
    def rest_until(due: datetime | None, longest: float) -> float:
        """The rest before a round for work due at ``due`` (None: none is known), at most ``longest``;
        never below a floor, so that due work another replica holds does not make this one spin."""
        if due is None:
            return longest
        return max(0.05, min(longest, (due - datetime.now(UTC)).total_seconds()))

    async def round(self) -> float | None:
        """One round: None when it did work (the next comes at once), else the longest rest before the
        next (``wake`` ends it sooner)."""
        raise NotImplementedError


class Workers:
    """What a process runs in the background, in the order it starts them; ``stop`` stops them in reverse,
    so a worker listed after the hub and the listener it watches stops before them. ``None`` stands for a
    worker its settings switch off, so that the list can be written out whole."""

    def __init__(self, *workers: Worker | None) -> None:
        self.workers = tuple(worker for worker in workers if worker is not None)

    def __iter__(self) -> Iterator[Worker]:
        return iter(self.workers)

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    async def stop(self) -> None:
        """Stop every worker, last started first. One that fails to stop cleanly is logged, and the
        others are stopped all the same."""
        for worker in reversed(self.workers):
            try:
                await worker.stop()
            except Exception:
                log.exception("stopping %s failed", worker.name)
