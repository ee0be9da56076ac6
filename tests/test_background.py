"""Background loops stop when asked, even when their wake-up signal arrives in the same instant; a
failure is retried with a backoff; a process's workers start in order and stop in reverse."""

from __future__ import annotations

import asyncio

import pytest

from domain import background
from domain.background import RoundWorker, Worker, Workers, wait_for_signal
from tests.waiting import PATIENCE, eventually_async


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


class Recorded(Worker):
    """A worker that only notes when it starts and stops."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__()
        self.name = name
        self.log = log

    def on_start(self) -> None:
        self.log.append(f"start {self.name}")

    def on_stop(self) -> None:
        self.log.append(f"stop {self.name}")

    async def run(self) -> None:
        await asyncio.Event().wait()


async def test_workers_start_in_order_and_stop_in_reverse_skipping_those_switched_off() -> None:
    log: list[str] = []
    workers = Workers(Recorded("hub", log), None, Recorded("listener", log), Recorded("watcher", log))
    assert [worker.name for worker in workers] == ["hub", "listener", "watcher"]
    workers.start()
    assert all(worker.running for worker in workers)
    await workers.stop()
    assert log == [
        "start hub",
        "start listener",
        "start watcher",
        "stop watcher",
        "stop listener",
        "stop hub",
    ]
    assert not any(worker.running for worker in workers)


async def test_a_worker_that_fails_to_stop_does_not_keep_the_others_running() -> None:
    log: list[str] = []

    class Broken(Recorded):
        async def stop(self) -> None:
            await super().stop()
            raise RuntimeError("cannot stop cleanly")

    first, last = Recorded("first", log), Recorded("last", log)
    workers = Workers(first, Broken("broken", log), last)
    workers.start()
    await workers.stop()
    assert log[-3:] == ["stop last", "stop broken", "stop first"]
    assert not first.running


async def test_retried_work_runs_until_it_succeeds_once(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[int] = []

    def no_pause(failures: int) -> float:  # the test need not wait 1 s and 2 s
        pauses.append(failures)
        return 0.0

    monkeypatch.setattr(background, "backoff", no_pause)
    attempts = 0

    class Once(Worker):
        name = "once"

        async def run(self) -> None:
            await self.retried(self.attempt)

        async def attempt(self) -> None:
            nonlocal attempts
            attempts += 1
            if attempts < 3:
                raise ConnectionError("the database is not up yet")

    once = Once()
    once.start()
    assert once._task is not None
    await asyncio.wait_for(asyncio.shield(once._task), PATIENCE)  # it ends by itself
    assert attempts == 3 and pauses == [1, 2]
    await once.stop()


def test_the_backoff_doubles_up_to_its_ceiling() -> None:
    assert [background.backoff(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert background.backoff(20) == background.MAX_BACKOFF_SECONDS


async def test_a_chore_waits_before_its_first_round() -> None:
    rounds = 0

    class Chore(RoundWorker):
        name = "chore"

        async def round(self) -> float:
            nonlocal rounds
            rounds += 1
            return 3600.0

    now, later = Chore(), Chore()
    later.first_round_after = 3600.0
    now.start()
    later.start()
    try:
        await eventually_async(lambda: rounds == 1, "the first round of the chore without a wait")
        for _ in range(20):
            await asyncio.sleep(0)
        assert rounds == 1  # the other one still waits its hour
    finally:
        await now.stop()
        await later.stop()
