"""Gathers concurrent async calls into batches for an in-process model that runs in a worker thread.

The engine calls `generate` once per request, concurrently. A GPU (or CPU) model is far faster on a
batch, and it must not run two batches at once. `MicroBatcher.submit` queues one item and waits; a single
worker task takes up to `max_batch` queued items, runs them in a thread (`asyncio.to_thread`, so the event
loop stays free for the engine's progress and timeouts), and routes each result back to its caller.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")

BatchFunction = Callable[[list[Item]], Sequence[Outcome | BaseException]]
"""Runs one batch; returns one outcome per item, in order. An exception in the list fails only its item."""


class MicroBatcher(Generic[Item, Outcome]):
    """One worker per event loop; batches run one at a time, in submission order."""

    def __init__(
        self, run_batch: BatchFunction[Item, Outcome], *, max_batch: int, max_wait_s: float = 0.005
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future[Outcome]]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batch_sizes: list[int] = []
        """Size of every batch run so far (for tests and benchmarks)."""

    async def submit(self, item: Item) -> Outcome:
        """Queues `item` and returns its outcome (or raises its exception) once its batch has run."""
        queue = self._ensure_worker()
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        await queue.put((item, future))
        return await future

    def _ensure_worker(self) -> asyncio.Queue[tuple[Item, asyncio.Future[Outcome]]]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop or self._worker is None or self._worker.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._work(self._queue), name="crosseval-micro-batcher")
        return self._queue

    async def _collect(
        self, queue: asyncio.Queue[tuple[Item, asyncio.Future[Outcome]]]
    ) -> list[tuple[Item, asyncio.Future[Outcome]]]:
        batch = [await queue.get()]
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while len(batch) < self.max_batch:
            if not queue.empty():
                batch.append(queue.get_nowait())
                continue
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                break
        return [(item, future) for item, future in batch if not future.done()]

    async def _work(self, queue: asyncio.Queue[tuple[Item, asyncio.Future[Outcome]]]) -> None:
        while True:
            batch = await self._collect(queue)
            if not batch:
                continue
            items = [item for item, _ in batch]
            self.batch_sizes.append(len(items))
            try:
                outcomes: Sequence[Outcome | BaseException] = await asyncio.to_thread(self._run_batch, items)
                if len(outcomes) != len(items):
                    raise RuntimeError(f"a batch of {len(items)} returned {len(outcomes)} outcomes")
            except Exception as error:
                outcomes = [error] * len(items)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    async def aclose(self) -> None:
        """Stops the worker; callers still waiting get `CancelledError`."""
        worker, self._worker = self._worker, None
        if worker is not None and not worker.done():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        queue, self._queue = self._queue, None
        while queue is not None and not queue.empty():
            _, future = queue.get_nowait()
            future.cancel()
