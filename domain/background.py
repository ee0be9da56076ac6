"""What the background loops (outbox hub and listener, maintenance mover, SLA scanner, webhook worker,
alert worker) share: a start and a stop, working in rounds, and sleeping until a signal or a deadline
without ever swallowing a cancellation.

``asyncio.wait_for(event.wait(), t)`` on Python 3.11 returns normally when the event is set in the same
tick as the task is cancelled, so the cancellation is lost and ``stop()`` waits forever. Awaiting the
event directly under ``asyncio.timeout`` leaves the cancellation with the task.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

log = logging.getLogger(__name__)

# A failed round is tried again after 1 s, 2 s, 4 s... at most this long.
MAX_BACKOFF_SECONDS = 30.0


async def wait_for_signal(signal: asyncio.Event, seconds: float) -> bool:
    """Sleep until ``signal`` is set or ``seconds`` pass; True when the signal woke us."""
    try:
        async with asyncio.timeout(max(0.0, seconds)):
            await signal.wait()
    except TimeoutError:
        return False
    return True


class Worker:
    """A loop this process runs in the background: ``start`` once it may run, ``stop`` when it must end.

    Subclasses write ``run`` (the loop; it handles and logs its own failures, so that one bad pass does
    not end it) and, when they need them, ``on_start`` and ``on_stop`` (register and unregister hooks).
    Stopping cancels the loop and waits for it, so nothing it was doing outlives ``stop``.
    """

    name = "worker"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self.on_start()
            self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
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


class RoundWorker(Worker):
    """A worker that works in rounds (``round``). A round that did work is followed at once by the next;
    after an idle one the loop sleeps until ``wake`` or the rest the round asked for; a failed round is
    logged and tried again after an exponential backoff, so one bad round never ends the loop."""

    def __init__(self) -> None:
        super().__init__()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                rest = await self.round()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("%s: round failed", self.name)
                await asyncio.sleep(min(MAX_BACKOFF_SECONDS, 0.5 * 2**failures))
                continue
            if rest is None:
                await asyncio.sleep(0)  # let the rest of the process run between busy rounds
                continue
            await wait_for_signal(self._wake, rest)

    async def round(self) -> float | None:
        """One round: None when it did work (the next comes at once), else the longest rest before the
        next (``wake`` ends it sooner)."""
        raise NotImplementedError
