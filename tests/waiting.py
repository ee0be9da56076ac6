"""Waiting for a condition, the only way a test waits.

A test never sleeps for a fixed time and then looks: on a busy machine the thing it waits for may come
later than any fixed time. It polls a condition instead, and the deadline only bounds a hang: it is long
enough that reaching it means something is stuck, not slow (``PATIENCE`` seconds, 60 by default).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

PATIENCE = float(os.environ.get("INCIDENTDESK_TEST_PATIENCE", "60"))


def eventually(condition: Callable[[], T], what: str, *, within: float = PATIENCE, every: float = 0.02) -> T:
    """Poll ``condition`` until it returns something truthy, and return that; fail naming ``what``."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {within:g}s for: {what}")
        time.sleep(every)


async def eventually_async(
    condition: Callable[[], Awaitable[T] | T], what: str, *, within: float = PATIENCE, every: float = 0.02
) -> T:
    """``eventually`` without blocking the event loop between looks; ``condition`` may be a coroutine
    function or a plain one."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {within:g}s for: {what}")
        await asyncio.sleep(every)
