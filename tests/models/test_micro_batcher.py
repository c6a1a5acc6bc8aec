"""Concurrent calls are gathered into batches, run off the event loop, and answered one by one."""

from __future__ import annotations

import asyncio
import threading

import pytest

from crosseval.models.micro_batcher import MicroBatcher


def doubled(items: list[int]) -> list[int | BaseException]:
    return [item * 2 for item in items]


async def test_concurrent_calls_form_batches_up_to_the_limit() -> None:
    batcher = MicroBatcher(doubled, max_batch=4)

    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    await batcher.aclose()

    assert results == [i * 2 for i in range(10)]
    assert batcher.batch_sizes == [4, 4, 2]


async def test_sequential_calls_run_alone() -> None:
    batcher = MicroBatcher(doubled, max_batch=8, max_wait_s=0.0)

    results = [await batcher.submit(i) for i in range(3)]
    await batcher.aclose()

    assert results == [0, 2, 4]
    assert batcher.batch_sizes == [1, 1, 1]


async def test_an_item_error_fails_only_its_caller() -> None:
    def odd_fails(items: list[int]) -> list[int | BaseException]:
        return [ValueError(f"odd {item}") if item % 2 else item for item in items]

    batcher = MicroBatcher(odd_fails, max_batch=4)
    outcomes = await asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True)
    await batcher.aclose()

    assert outcomes[0] == 0 and outcomes[2] == 2
    assert isinstance(outcomes[1], ValueError) and str(outcomes[1]) == "odd 1"
    assert isinstance(outcomes[3], ValueError)


async def test_a_crashed_batch_fails_its_callers_and_the_next_batch_still_runs() -> None:
    calls: list[list[int]] = []

    def crash_first(items: list[int]) -> list[int | BaseException]:
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("device lost")
        return list(items)

    batcher = MicroBatcher(crash_first, max_batch=2)
    first = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    second = await batcher.submit(3)
    await batcher.aclose()

    assert all(isinstance(outcome, RuntimeError) for outcome in first)
    assert second == 3


async def test_wrong_number_of_outcomes_is_an_error_not_a_misrouted_answer() -> None:
    def one_short(items: list[int]) -> list[int | BaseException]:
        return list(items[:1])

    batcher = MicroBatcher(one_short, max_batch=2)

    outcomes = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    await batcher.aclose()

    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)


async def test_the_event_loop_stays_free_while_a_batch_runs() -> None:
    released = threading.Event()

    def wait_for_the_loop(items: list[int]) -> list[int | BaseException]:
        # Returns only if a coroutine on the event loop could run meanwhile.
        if not released.wait(timeout=5):
            return [RuntimeError("the event loop was blocked")] * len(items)
        return list(items)

    async def release() -> None:
        await asyncio.sleep(0.01)
        released.set()

    batcher = MicroBatcher(wait_for_the_loop, max_batch=2)
    result, _ = await asyncio.gather(batcher.submit(5), release())
    await batcher.aclose()

    assert result == 5


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    gate = threading.Event()

    def gated(items: list[int]) -> list[int | BaseException]:
        gate.wait(timeout=5)
        return list(items)

    batcher = MicroBatcher(gated, max_batch=1, max_wait_s=0.0)
    first = asyncio.create_task(batcher.submit(1))
    second = asyncio.create_task(batcher.submit(2))
    third = asyncio.create_task(batcher.submit(3))
    await asyncio.sleep(0.05)
    second.cancel()
    gate.set()

    assert await first == 1
    assert await third == 3
    assert second.cancelled()
    await batcher.aclose()
    assert batcher.batch_sizes == [1, 1]


def test_batch_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(doubled, max_batch=0)
