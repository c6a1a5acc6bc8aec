"""Run many independent jobs with bounded concurrency, live progress and an honest summary.

A job is an async callable that takes a `JobContext`, sends its requests through `JobContext.call`
(which applies the run's retry policy and feeds the progress counters), stores its own outcome and
returns a status word (`"ok"`, `"error"`, ...). The scheduler counts those words. An exception that
escapes a job is a bug in the job, not a model failure: it is counted as `"crashed"` with its message
and the other jobs go on.

Concurrency is a fixed pool of `max_connections` workers pulling jobs in order, so memory stays flat
however many jobs there are. Cancelling `run_jobs` (Ctrl-C) cancels the jobs in flight; each job
writes its outcome in one synchronous call after its request, so nothing is ever half-written.

A circuit breaker watches each remote endpoint (a backend with an `endpoint` URL): when attempts get
no reply at all (the connection fails, or the attempt times out without an answer) several times in
a row, `NO_REPLY_LIMIT_BEFORE_FIRST_REPLY` before the endpoint ever answered and `NO_REPLY_LIMIT`
after, it stops the whole run: no job is started any more, the jobs in flight are cancelled (so they
store nothing), and `run_jobs` raises `EndpointUnreachable`, naming the endpoint and what to check.
Any reply, an HTTP error included, shows the endpoint is there and starts the count again.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from crosseval.engine.retry import RequestFailed, RetryPolicy, call_with_retry
from crosseval.errors import UserError
from crosseval.models.types import BackendError, GenerationRequest, GenerationResult, ModelBackend

CRASHED = "crashed"
MAX_CRASH_MESSAGES = 20
"""Crash messages kept for the summary; further crashes are only counted."""

NO_REPLY_LIMIT_BEFORE_FIRST_REPLY = 3
"""Attempts in a row without a reply that stop a run whose endpoint never answered (a wrong URL, a
server not started): with many connections in flight, the first wave of attempts already decides."""
NO_REPLY_LIMIT = 10
"""Attempts in a row without a reply that stop a run whose endpoint answered before (it went away)."""


@runtime_checkable
class RemoteBackend(Protocol):
    """A backend behind a network endpoint; `endpoint` is its URL without credentials."""

    endpoint: str


class EndpointUnreachable(UserError):
    """A remote endpoint stopped replying, so the run stopped: the message names it and what to check."""

    def __init__(self, endpoint: str, attempts: int, last: BackendError) -> None:
        if last.kind == "timeout":
            message = f"{endpoint} sent no answer: {attempts} attempts in a row timed out ({last.message})"
            check = (
                "check that the server is up and not overloaded; a slow model (a reasoning model at "
                "high effort) needs a longer --timeout, an overloaded server fewer --max-connections"
            )
        else:
            message = f"cannot reach {endpoint}: {attempts} attempts in a row got no reply ({last.message})"
            check = (
                "check that the server is running and listening at that address, its URL (--base-url, "
                "--judge-base-url, or the provider's default), DNS, TLS certificates and any proxy"
            )
        super().__init__(
            message,
            hint=f"{check}. The requests in flight were cancelled and stored nothing: run the same "
            "command again once the endpoint answers, and it sends what is missing.",
        )
        self.endpoint = endpoint


def _got_no_reply(error: BackendError) -> bool:
    """True when the attempt never heard from the server (an HTTP 408 is a reply)."""
    return error.kind in ("connection", "timeout") and error.status_code is None


@dataclass
class _EndpointWatch:
    """The circuit breaker of one endpoint: attempts in a row that got no reply."""

    endpoint: str
    answered: bool = False
    no_reply_in_a_row: int = 0

    def saw(self, error: BackendError | None) -> None:
        """Counts one attempt (`None`: it succeeded); raises `EndpointUnreachable` at the limit."""
        if error is None or not _got_no_reply(error):
            self.answered = True
            self.no_reply_in_a_row = 0
            return
        self.no_reply_in_a_row += 1
        limit = NO_REPLY_LIMIT if self.answered else NO_REPLY_LIMIT_BEFORE_FIRST_REPLY
        if self.no_reply_in_a_row >= limit:
            raise EndpointUnreachable(self.endpoint, self.no_reply_in_a_row, error)


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
        self._watches: dict[str, _EndpointWatch] = {}
        self.retrying = 0
        """Requests that failed at least once and are not finished yet (backing off or on a later attempt)."""

    async def call(self, backend: ModelBackend, request: GenerationRequest) -> tuple[GenerationResult, int]:
        """One request with retries; returns the result and the attempts used, or raises `RequestFailed`.

        Raises `EndpointUnreachable` instead when this request's failure is the one that trips the
        endpoint's circuit breaker: the request then has no outcome to store.
        """
        watch = self._watch(backend)
        in_retry_cycle = False

        def saw(error: BackendError | None) -> None:
            if watch is not None:
                watch.saw(error)

        def on_retry(error: BackendError, delay_s: float) -> None:
            nonlocal in_retry_cycle
            saw(error)
            self._summary.retries += 1
            self._summary.attempts += 1
            if not in_retry_cycle:
                in_retry_cycle = True
                self.retrying += 1

        self._summary.attempts += 1
        try:
            outcome = await call_with_retry(backend, request, self.policy, on_retry=on_retry)
        except RequestFailed as failed:
            saw(failed.error)
            raise
        finally:
            if in_retry_cycle:
                self.retrying -= 1
        saw(None)
        return outcome

    def _watch(self, backend: ModelBackend) -> _EndpointWatch | None:
        """The circuit breaker of `backend`'s endpoint; None for an in-process backend, which has none."""
        if not isinstance(backend, RemoteBackend):
            return None
        watch = self._watches.get(backend.endpoint)
        if watch is None:
            watch = self._watches[backend.endpoint] = _EndpointWatch(backend.endpoint)
        return watch


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
    """Run `jobs` with at most `max_connections` in flight; returns the count of each status word.

    Raises `EndpointUnreachable` when an endpoint's circuit breaker stops the run (see the module).
    """
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
                except EndpointUnreachable:
                    raise
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
        except ExceptionGroup as group_error:  # a breaker tripped: the other workers are cancelled by now
            stopped = [e for e in group_error.exceptions if isinstance(e, EndpointUnreachable)]
            if not stopped:
                raise
            raise stopped[0] from None
        finally:
            summary.wall_s = time.monotonic() - started
            view.update(summary, context.retrying, summary.wall_s)
    return summary
