from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from crosseval.engine.retry import RequestFailed, RetryPolicy
from crosseval.engine.scheduler import Job, JobContext, JobTally, RunSummary, run_jobs
from crosseval.models.types import BackendError, GenerationRequest, Message
from tests.engine.fakes import ScriptedBackend, always, ok

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


async def quietly(jobs: Sequence[Job], *, max_connections: int) -> RunSummary:
    """`run_jobs` with the fast retry policy and no progress bar."""
    return await run_jobs(jobs, max_connections=max_connections, policy=FAST, label="t", show_progress=False)


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
