"""What the background loops (maintenance mover, SLA scanner, webhook worker) share: sleeping until a
signal or a deadline without ever swallowing a cancellation.

``asyncio.wait_for(event.wait(), t)`` on Python 3.11 returns normally when the event is set in the same
tick as the task is cancelled, so the cancellation is lost and ``stop()`` waits forever. Awaiting the
event directly under ``asyncio.timeout`` leaves the cancellation with the task.
"""

from __future__ import annotations

import asyncio


async def wait_for_signal(signal: asyncio.Event, seconds: float) -> bool:
    """Sleep until ``signal`` is set or ``seconds`` pass; True when the signal woke us."""
    try:
        async with asyncio.timeout(max(0.0, seconds)):
            await signal.wait()
    except TimeoutError:
        return False
    return True
