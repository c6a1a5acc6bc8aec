"""Runs an expensive load (model weights, an inference engine) at most once, on first use, for every caller.

In-process backends are built before the engine knows whether anything needs sending: a rerun of a
finished run, a dry run, or judging a judged run sends nothing, and must not pay minutes of loading.
So they load lazily: the first caller that needs the model runs the loading function, concurrent
callers (threads or coroutines) wait for that same call, and everyone gets its value or its error.
A failed load is not tried again: every later caller gets the same exception, so a run reports one
clear load failure instead of as many attempts (and errors) as it has requests.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class LoadOnce(Generic[Value]):
    """A value made by `load` on first use, once, thread-safe; `get` blocks, `aget` waits in a thread."""

    def __init__(self, load: Callable[[], Value]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._done = False
        self._value: Value | None = None
        self._error: Exception | None = None
        self._pending: tuple[asyncio.AbstractEventLoop, asyncio.Future[Value]] | None = None
        self.calls = 0
        """How many times `load` ran (0 or 1; for tests and benchmarks)."""

    @property
    def loaded(self) -> bool:
        """Whether `load` has finished, with a value or with an error."""
        return self._done

    def get(self) -> Value:
        """The value, loading it in this thread if nobody has yet; raises the load's exception if it failed."""
        if not self._done:
            with self._lock:
                if not self._done:
                    self.calls += 1
                    try:
                        self._value = self._load()
                    except Exception as error:  # kept and raised to every caller, now and later
                        self._error = error
                    self._done = True
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    async def aget(self) -> Value:
        """`get` without blocking the event loop: the load runs in a worker thread, shared by all waiters.

        A waiter that is cancelled (a request timeout) does not cancel the load; the next one finds it
        still running, or done.
        """
        if self._done:
            return self.get()
        loop = asyncio.get_running_loop()
        if self._pending is None or self._pending[0] is not loop:
            future = loop.run_in_executor(None, self.get)
            # Waiters re-raise the error; this marks it retrieved when every waiter was cancelled first.
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._pending = (loop, future)
        return await asyncio.shield(self._pending[1])
