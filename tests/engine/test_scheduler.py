from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from crosseval.engine.retry import RequestFailed, RetryPolicy
from crosseval.engine.scheduler import (
    NO_REPLY_LIMIT,
    NO_REPLY_LIMIT_BEFORE_FIRST_REPLY,
    EndpointUnreachable,
    Job,
    JobContext,
    JobTally,
    RunSummary,
    run_jobs,
)
from crosseval.models.types import BackendError, GenerationRequest, Message
from tests.engine.fakes import Outcome, ScriptedBackend, always, ok

REQUEST = GenerationRequest(messages=(Message(role="user", text="hi"),))
FAST = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.002, attempt_timeout_s=1.0)


def calling_job(backend: ScriptedBackend) -> Job:
    async def job(context: JobContext) -> str:
        try:
            await context.call(backend, REQUEST)
        except RequestFailed:
            return "error"
        return "ok"

    return job


async def quietly(jobs: Sequence[Job], *, max_connections: int, policy: RetryPolicy = FAST) -> RunSummary:
    """`run_jobs` with the fast retry policy (or `policy`) and no progress bar."""
    return await run_jobs(
        jobs, max_connections=max_connections, policy=policy, label="t", show_progress=False
    )


async def test_concurrency_is_bounded_and_every_job_runs() -> None:
    backend = ScriptedBackend(always(0.01))
    summary = await quietly([calling_job(backend) for _ in range(40)], max_connections=7)

    assert summary.statuses == {"ok": 40}
    assert summary.done == summary.total == 40
    assert backend.peak_in_flight == 7
    assert summary.attempts == 40


async def test_errors_and_retries_are_counted() -> None:
    backend = ScriptedBackend(lambda request, n: BackendError("server", "x") if n % 2 == 0 else ok())
    summary = await quietly([calling_job(backend) for _ in range(10)], max_connections=1)

    assert summary.statuses == {"ok": 10}
    assert summary.retries == 10
    assert summary.attempts == 20 == len(backend.calls)


async def test_a_job_that_raises_is_counted_as_crashed_and_the_others_go_on() -> None:
    async def broken(context: JobContext) -> str:
        raise ZeroDivisionError("oops")

    backend = ScriptedBackend(always(ok()))
    jobs = [calling_job(backend), broken, calling_job(backend)]
    summary = await quietly(jobs, max_connections=2)

    assert summary.statuses == {"ok": 2, "crashed": 1}
    assert summary.crash_messages == ["ZeroDivisionError: oops"]


async def test_retrying_counts_requests_inside_a_retry_cycle() -> None:
    seen: list[int] = []
    context_box: list[JobContext] = []

    def script(request: GenerationRequest, n: int) -> BackendError | object:
        if context_box:
            seen.append(context_box[0].retrying)
        return BackendError("server", "x") if n == 0 else ok()

    backend = ScriptedBackend(script)  # type: ignore[arg-type]

    async def job(context: JobContext) -> str:
        context_box.append(context)
        await context.call(backend, REQUEST)
        return "ok"

    await quietly([job], max_connections=1)

    assert seen == [0, 1]
    assert context_box[0].retrying == 0


async def test_cancellation_cancels_jobs_in_flight_and_starts_no_more() -> None:
    started: list[int] = []
    finished: list[int] = []

    def make(i: int) -> Job:
        async def job(context: JobContext) -> str:
            started.append(i)
            await asyncio.sleep(10)
            finished.append(i)
            return "ok"

        return job

    task = asyncio.create_task(
        run_jobs([make(i) for i in range(10)], max_connections=3, policy=FAST, label="t")
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert sorted(started) == [0, 1, 2]
    assert finished == []


async def test_progress_bar_renders_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    backend = ScriptedBackend(always(ok()))
    await run_jobs([calling_job(backend) for _ in range(3)], max_connections=2, policy=FAST, label="demo")

    err = capsys.readouterr().err
    assert "demo" in err
    assert "3/3" in err
    assert "req/s" in err


async def test_bad_concurrency_is_refused() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        await run_jobs([], max_connections=0, policy=FAST, label="t")


async def test_a_command_tally_adds_up_its_runs() -> None:
    async def broken(context: JobContext) -> str:
        raise ValueError("bad job")

    backend = ScriptedBackend(lambda request, n: BackendError("server", "x") if n == 0 else ok())
    tally = JobTally()
    tally.add_run(await quietly([calling_job(backend), broken], max_connections=1))
    tally.add_run(await quietly([calling_job(backend)], max_connections=1))
    assert (tally.crashed, tally.attempts, tally.retries) == (1, 3, 1)
    assert tally.crash_messages == ["ValueError: bad job"]


# --- circuit breaker ---------------------------------------------------------------------------------

ENDPOINT = "http://gpu:8000/v1"
REFUSED = BackendError("connection", f"connection to {ENDPOINT} failed: ConnectionRefusedError")
NO_ANSWER = BackendError("timeout", f"no answer from {ENDPOINT} within 120 s")
ONE_ATTEMPT = replace(FAST, max_attempts=1)


class RemoteBackend(ScriptedBackend):
    """A `ScriptedBackend` behind a network endpoint, as the OpenAI-compatible backend is."""

    def __init__(self, script: Callable[[GenerationRequest, int], Outcome], endpoint: str = ENDPOINT) -> None:
        super().__init__(script)
        self.endpoint = endpoint


def storing_job(backend: ScriptedBackend, stored: list[str]) -> Job:
    """A job that stores its outcome in one step after its request, as the real jobs do."""

    async def job(context: JobContext) -> str:
        try:
            await context.call(backend, REQUEST)
        except RequestFailed as failed:
            stored.append(failed.error.kind)
            return "error"
        stored.append("ok")
        return "ok"

    return job


async def stopped_run(
    jobs: Sequence[Job], *, max_connections: int, policy: RetryPolicy
) -> EndpointUnreachable:
    """Runs `jobs`, which must end in `EndpointUnreachable`; returns it."""
    with pytest.raises(EndpointUnreachable) as stopped:
        await quietly(jobs, max_connections=max_connections, policy=policy)
    return stopped.value


async def test_an_endpoint_that_never_answered_stops_the_run_after_three_attempts() -> None:
    backend = RemoteBackend(always(REFUSED))
    stored: list[str] = []

    stopped = await stopped_run(
        [storing_job(backend, stored) for _ in range(50)], max_connections=1, policy=FAST
    )

    assert len(backend.calls) == NO_REPLY_LIMIT_BEFORE_FIRST_REPLY == 3
    assert stored == []  # the only request ended by tripping the breaker: nothing to store
    assert stopped.endpoint == ENDPOINT
    assert stopped.message.startswith(f"cannot reach {ENDPOINT}: 3 attempts in a row got no reply")
    assert stopped.hint is not None and "--base-url" in stopped.hint
    assert stopped.exit_code == 1


async def test_requests_that_ended_before_the_breaker_tripped_keep_their_stored_outcome() -> None:
    backend = RemoteBackend(always(REFUSED))
    stored: list[str] = []

    await stopped_run(
        [storing_job(backend, stored) for _ in range(50)], max_connections=1, policy=ONE_ATTEMPT
    )

    assert stored == ["connection", "connection"]
    assert len(backend.calls) == 3


async def test_an_endpoint_that_answered_before_stops_the_run_after_ten_attempts_without_reply() -> None:
    backend = RemoteBackend(lambda request, n: ok() if n < 4 else REFUSED)
    stored: list[str] = []

    await stopped_run(
        [storing_job(backend, stored) for _ in range(50)], max_connections=1, policy=ONE_ATTEMPT
    )

    assert len(backend.calls) == 4 + NO_REPLY_LIMIT == 14
    assert stored == ["ok"] * 4 + ["connection"] * 9


async def test_attempts_that_time_out_without_an_answer_count_too() -> None:
    backend = RemoteBackend(always(NO_ANSWER))

    stopped = await stopped_run([calling_job(backend) for _ in range(10)], max_connections=1, policy=FAST)

    assert stopped.message.startswith(f"{ENDPOINT} sent no answer: 3 attempts in a row timed out")
    assert stopped.hint is not None and "--timeout" in stopped.hint


async def test_any_reply_even_an_http_error_shows_the_endpoint_is_there() -> None:
    replies = [REFUSED, REFUSED, BackendError("server", "busy", status_code=503)]
    backend = RemoteBackend(lambda request, n: replies[n % 3])

    summary = await quietly([calling_job(backend) for _ in range(30)], max_connections=1, policy=ONE_ATTEMPT)

    assert summary.statuses == {"error": 30}


async def test_an_http_408_is_a_reply_not_a_silent_endpoint() -> None:
    backend = RemoteBackend(always(BackendError("timeout", "request timeout", status_code=408)))

    summary = await quietly([calling_job(backend) for _ in range(10)], max_connections=1, policy=ONE_ATTEMPT)

    assert summary.statuses == {"error": 10}


async def test_in_process_backends_have_no_breaker() -> None:
    backend = ScriptedBackend(always(NO_ANSWER))

    summary = await quietly([calling_job(backend) for _ in range(10)], max_connections=1, policy=ONE_ATTEMPT)

    assert summary.statuses == {"error": 10}


async def test_each_endpoint_is_watched_on_its_own() -> None:
    alive = RemoteBackend(always(ok()), "http://alive/v1")
    dead = RemoteBackend(always(REFUSED), "http://dead/v1")
    jobs = [calling_job(backend) for _ in range(20) for backend in (alive, dead)]

    stopped = await stopped_run(jobs, max_connections=1, policy=ONE_ATTEMPT)

    assert stopped.endpoint == "http://dead/v1"
    assert len(dead.calls) == 3


async def test_a_tripped_breaker_cancels_the_jobs_in_flight_and_starts_no_more() -> None:
    started: list[int] = []
    finished: list[int] = []
    slow = RemoteBackend(always(30.0))
    dead = RemoteBackend(always(REFUSED))

    def make(i: int) -> Job:
        async def job(context: JobContext) -> str:
            started.append(i)
            try:
                await context.call(dead if i == 0 else slow, REQUEST)
            finally:
                finished.append(i)
            return "ok"

        return job

    await stopped_run([make(i) for i in range(20)], max_connections=4, policy=FAST)

    assert sorted(started) == [0, 1, 2, 3]
    assert sorted(finished) == [0, 1, 2, 3]  # ended by the exception or by cancellation, not by an answer
    assert slow.in_flight == 0
