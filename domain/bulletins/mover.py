"""The background task that moves maintenance windows at their ``scheduledStart`` and ``scheduledEnd``.

Every replica runs one; ``advance_maintenance`` re-checks each window under lock, so a window moves once
however many replicas see it fall due. The task sleeps until the next known start or end, and never
longer than ``tick_seconds``; given the process's outbox hub, it also wakes on every bulletin change, so
a window created or moved on any replica is scheduled at once.
"""

from __future__ import annotations

import asyncio
import logging

from domain.background import Worker, wait_for_signal
from domain.bulletins.service import advance_maintenance
from domain.columns import utcnow
from domain.db import Database
from domain.outbox import Hub, LiveEvent

log = logging.getLogger(__name__)


class PhaseMover(Worker):
    name = "bulletin-phase-mover"

    def __init__(self, db: Database, *, tick_seconds: float = 5.0, hub: Hub | None = None) -> None:
        super().__init__()
        self.db = db
        self.tick_seconds = tick_seconds
        self.moved = 0
        self._wake = asyncio.Event()
        if hub is not None:
            self.hear(hub.watchers, self._on_event)

    def _on_event(self, event: LiveEvent) -> None:
        if event.is_bulletin_change:
            self._wake.set()

    async def run(self) -> None:
        while True:
            delay = self.tick_seconds
            self._wake.clear()
            try:
                moved, next_due = await advance_maintenance(self.db)
                self.moved += moved
                if next_due is not None:
                    delay = min(delay, max(0.0, (next_due - utcnow()).total_seconds()) + 0.01)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("moving maintenance windows failed; retrying")
            await wait_for_signal(self._wake, delay)
