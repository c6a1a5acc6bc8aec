"""Run many independent jobs with bounded concurrency, live progress and an honest summary.

A job is an async callable that takes a `JobContext`, sends its requests through `JobContext.call`
(which applies the run's retry policy and feeds the progress counters), stores its own outcome and
returns a status word (`"ok"`, `"error"`, ...). The scheduler counts those words. An exception that
escapes a job is a bug in the job, not a model failure: it is counted as `"crashed"` with its message
and the other jobs go on.

Concurrency is a fixed pool of `max_connections` workers pulling jobs in order, so memory stays flat
however many jobs there are. Cancelling `run_jobs` (Ctrl-C) cancels the jobs in flight; each job
writes its outcome in one synchronous call after its request, so nothing is ever half-written.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from crosseval.engine.retry import RetryPolicy, call_with_retry
from crosseval.models.types import BackendError, GenerationRequest, GenerationResult, ModelBackend

CRASHED = "crashed"
MAX_CRASH_MESSAGES = 20
"""Crash messages kept for the summary; further crashes are only counted."""


@dataclass
class RunSummary:
    label: str
    total: int
    statuses: Counter[str] = field(default_factory=Counter)
    """How many jobs returned each status word (plus `"crashed"`)."""
    crash_messages: list[str] = field(default_factory=list)
    attempts: int = 0
    """Backend calls made, retries included."""
    retries: int = 0
    wall_s: float = 0.0

    @property
    def done(self) -> int:
        return sum(self.statuses.values())

    @property
    def requests_per_s(self) -> float:
        return self.attempts / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(kw_only=True)
class JobTally:
    """What the scheduler saw of one command's jobs; the command's summary inherits these counts."""

    crashed: int = 0
    """Jobs that raised an unexpected exception (a bug): nothing stored, a rerun retries them."""
    crash_messages: list[str] = field(default_factory=list)
    attempts: int = 0
    """Backend calls made, retries included."""
    retries: int = 0

    def add_run(self, run: RunSummary) -> None:
        """Count one `run_jobs` call's crashes, attempts and retries."""
        self.crashed += run.statuses.get(CRASHED, 0)
        self.crash_messages += run.crash_messages
        self.attempts += run.attempts
        self.retries += run.retries


class JobContext:
    """What a job uses to talk to a backend: retries by the run's policy, counted for the progress bar."""

    def __init__(self, policy: RetryPolicy, summary: RunSummary) -> None:
        self.policy = policy
        self._summary = summary
        self.retrying = 0
        """Requests that failed at least once and are not finished yet (backing off or on a later attempt)."""

    async def call(self, backend: ModelBackend, request: GenerationRequest) -> tuple[GenerationResult, int]:
        """One request with retries; returns the result and the attempts used, or raises `RequestFailed`."""
        in_retry_cycle = False

        def on_retry(error: BackendError, delay_s: float) -> None:
            nonlocal in_retry_cycle
            self._summary.retries += 1
            self._summary.attempts += 1
            if not in_retry_cycle:
                in_retry_cycle = True
                self.retrying += 1

        self._summary.attempts += 1
        try:
            return await call_with_retry(backend, request, self.policy, on_retry=on_retry)
        finally:
            if in_retry_cycle:
                self.retrying -= 1


Job = Callable[[JobContext], Awaitable[str]]


class _ProgressView:
    """The live bar on stderr: done / total, errors, retrying, requests per second."""

    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if not enabled:
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("errors {task.fields[errors]}"),
            TextColumn("retrying {task.fields[retrying]}"),
            TextColumn("{task.fields[rate]:.1f} req/s"),
            TimeElapsedColumn(),
            console=Console(file=sys.stderr),
            refresh_per_second=4,
            transient=False,
        )
        self._task = self._progress.add_task(label, total=total, errors=0, retrying=0, rate=0.0)

    def __enter__(self) -> _ProgressView:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, summary: RunSummary, retrying: int, elapsed_s: float) -> None:
        if self._progress is None or self._task is None:
            return
        errors = summary.done - summary.statuses.get("ok", 0) - summary.statuses.get("skipped", 0)
        rate = summary.attempts / elapsed_s if elapsed_s > 0 else 0.0
        self._progress.update(self._task, completed=summary.done, errors=errors, retrying=retrying, rate=rate)


async def run_jobs(
    jobs: Sequence[Job],
    *,
    max_connections: int,
    policy: RetryPolicy,
    label: str,
    show_progress: bool = True,
) -> RunSummary:
    """Run `jobs` with at most `max_connections` in flight; returns the count of each status word."""
    if max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, got {max_connections}")
    summary = RunSummary(label=label, total=len(jobs))
    context = JobContext(policy, summary)
    queue: Iterator[Job] = iter(jobs)
    started = time.monotonic()

    with _ProgressView(label, len(jobs), show_progress) as view:

        async def worker() -> None:
            for job in queue:
                try:
                    status = await job(context)
                except Exception as exc:
                    status = CRASHED
                    if len(summary.crash_messages) < MAX_CRASH_MESSAGES:
                        summary.crash_messages.append(f"{type(exc).__name__}: {exc}")
                summary.statuses[status] += 1
                view.update(summary, context.retrying, time.monotonic() - started)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(max_connections, len(jobs))):
                    group.create_task(worker())
        finally:
            summary.wall_s = time.monotonic() - started
            view.update(summary, context.retrying, summary.wall_s)
    return summary
