"""Background loops stop when asked, even when their wake-up signal arrives in the same instant."""

from __future__ import annotations

import asyncio

from domain.background import wait_for_signal
from tests.waiting import PATIENCE


async def test_a_cancellation_arriving_with_the_signal_is_not_swallowed() -> None:
    signal = asyncio.Event()

    async def loop() -> None:
        while True:
            await wait_for_signal(signal, 3600)
            signal.clear()

    for _ in range(50):
        task = asyncio.create_task(loop())
        await asyncio.sleep(0)  # the loop is now waiting on the signal
        signal.set()
        task.cancel()  # in the same tick as the signal
        done, _ = await asyncio.wait({task}, timeout=PATIENCE)  # swallowed, it would wait an hour
        assert task in done and task.cancelled()


async def test_it_tells_a_signal_from_a_deadline() -> None:
    signal = asyncio.Event()
    assert await wait_for_signal(signal, 0.01) is False
    signal.set()
    assert await wait_for_signal(signal, 5) is True
