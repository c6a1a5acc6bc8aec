"""`LoadOnce`: one load for every thread and coroutine, its error for all of them, waiters that may give up."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from crosseval.models.load_once import LoadOnce


class SlowLoad:
    """Counts its runs; each takes `seconds`, so callers that arrive meanwhile overlap it."""

    def __init__(self, seconds: float = 0.05, error: Exception | None = None) -> None:
        self.seconds = seconds
        self.error = error
        self.runs = 0
        self.threads: set[str] = set()

    def __call__(self) -> object:
        self.runs += 1
        self.threads.add(threading.current_thread().name)
        time.sleep(self.seconds)
        if self.error is not None:
            raise self.error
        return object()


def test_nothing_loads_until_asked() -> None:
    load = SlowLoad()
    once = LoadOnce(load)

    assert (load.runs, once.loaded, once.calls) == (0, False, 0)


def test_concurrent_threads_share_one_load() -> None:
    load = SlowLoad()
    once = LoadOnce(load)
    with ThreadPoolExecutor(max_workers=8) as pool:
        values = list(pool.map(lambda _: once.get(), range(8)))

    assert load.runs == 1 and once.calls == 1 and once.loaded
    assert all(value is values[0] for value in values)
    assert once.get() is values[0]


async def test_concurrent_coroutines_share_one_load_off_the_event_loop() -> None:
    load = SlowLoad()
    once = LoadOnce(load)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not once.loaded:
            ticks += 1
            await asyncio.sleep(0.005)

    tick_task = asyncio.create_task(ticker())
    values = await asyncio.gather(*(once.aget() for _ in range(20)))
    await tick_task

    assert load.runs == 1
    assert all(value is values[0] for value in values)
    assert threading.main_thread().name not in load.threads
    assert ticks > 1  # the loop kept running while the load slept in its thread


async def test_a_failed_load_raises_its_error_to_every_caller_and_is_not_retried() -> None:
    load = SlowLoad(error=ValueError("no chat template"))
    once = LoadOnce(load)

    outcomes = await asyncio.gather(*(once.aget() for _ in range(5)), return_exceptions=True)
    with pytest.raises(ValueError, match="no chat template"):
        once.get()
    with pytest.raises(ValueError, match="no chat template"):
        await once.aget()

    assert load.runs == 1 and once.loaded
    assert all(isinstance(outcome, ValueError) and str(outcome) == "no chat template" for outcome in outcomes)


async def test_a_cancelled_waiter_does_not_cancel_the_load() -> None:
    load = SlowLoad(seconds=0.1)
    once = LoadOnce(load)

    impatient = asyncio.create_task(once.aget())
    await asyncio.sleep(0.02)
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    value = await once.aget()

    assert value is not None and load.runs == 1


def test_each_event_loop_can_wait_for_the_value() -> None:
    load = SlowLoad()
    once = LoadOnce(load)

    first = asyncio.run(once.aget())
    second = asyncio.run(once.aget())

    assert first is second and load.runs == 1
