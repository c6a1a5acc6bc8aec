"""Dead, vanishing and hung endpoints stop a run at once, against the real loopback server and the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crosseval.engine.export import export_generations
from crosseval.engine.manifest import read_manifest
from crosseval.engine.retry import RequestFailed, RetryPolicy
from crosseval.engine.scheduler import EndpointUnreachable, Job, JobContext, run_jobs
from crosseval.models.openai_compat import OpenAICompatBackend
from crosseval.models.types import GenerationRequest, Message
from tests.conftest import REPO_ROOT
from tests.helpers.openai_server import OpenAIServer, Reply, closed_port
from tests.helpers.synthetic_cross import write_synthetic_cross

REQUEST = GenerationRequest(messages=(Message(role="user", text="Is this a good gift?"),))
POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.01, attempt_timeout_s=5.0)


def backend_at(base_url: str) -> OpenAICompatBackend:
    return OpenAICompatBackend(
        provider="openai", model="m", api_key="sk-endpoint-test-key", base_url=base_url
    )


def storing_job(backend: OpenAICompatBackend, stored: list[str]) -> Job:
    """A job that stores its outcome in one step after its request, as the real jobs do."""

    async def job(context: JobContext) -> str:
        try:
            result, _ = await context.call(backend, REQUEST)
        except RequestFailed as failed:
            stored.append(failed.error.kind)
            return "error"
        stored.append(result.text)
        return "ok"

    return job


async def run_until_stopped(
    backend: OpenAICompatBackend, stored: list[str], *, jobs: int, max_connections: int, policy: RetryPolicy
) -> EndpointUnreachable:
    with pytest.raises(EndpointUnreachable) as stopped:
        await run_jobs(
            [storing_job(backend, stored) for _ in range(jobs)],
            max_connections=max_connections,
            policy=policy,
            label="t",
            show_progress=False,
        )
    await backend.aclose()
    return stopped.value


async def test_a_refused_endpoint_stops_the_run_naming_its_url_without_credentials() -> None:
    port = closed_port()
    backend = backend_at(f"http://someone:pw-secret-0123@127.0.0.1:{port}/v1")
    stored: list[str] = []

    stopped = await run_until_stopped(backend, stored, jobs=100, max_connections=8, policy=POLICY)

    assert stored == []
    assert stopped.endpoint == f"http://127.0.0.1:{port}/v1"
    assert stopped.message.startswith(f"cannot reach http://127.0.0.1:{port}/v1: 3 attempts in a row")
    assert "ConnectionRefusedError" in stopped.message
    assert "pw-secret-0123" not in stopped.message and "someone" not in stopped.message


async def test_an_endpoint_that_goes_away_mid_run_stops_it_and_what_arrived_stays_stored(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script = lambda body, n: Reply(text=f"answer {n}") if n < 5 else Reply(drop_connection=True)
    stored: list[str] = []
    one_attempt = RetryPolicy(max_attempts=1, attempt_timeout_s=5.0)

    stopped = await run_until_stopped(
        backend_at(openai_server.base_url), stored, jobs=100, max_connections=1, policy=one_attempt
    )

    assert stored == [f"answer {n}" for n in range(5)] + ["connection"] * 9
    assert "10 attempts in a row got no reply" in stopped.message


async def test_a_hung_endpoint_stops_the_run_after_one_attempt_timeout(openai_server: OpenAIServer) -> None:
    openai_server.script = lambda body, n: Reply(hang=True)
    stored: list[str] = []
    short = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.01, attempt_timeout_s=0.3)

    stopped = await run_until_stopped(
        backend_at(openai_server.base_url), stored, jobs=30, max_connections=3, policy=short
    )

    assert stored == []
    assert stopped.message.startswith(
        f"{openai_server.base_url} sent no answer: 3 attempts in a row timed out"
    )


def test_generate_against_a_dead_port_exits_with_the_message_and_stores_nothing(tmp_path: Path) -> None:
    cross = write_synthetic_cross(tmp_path / "cross")
    run_dir = tmp_path / "run"
    port = closed_port()
    command = [
        sys.executable, "-m", "crosseval", "generate", "--model", "openai/test-model",
        "--base-url", f"http://someone:pw-secret-0123@127.0.0.1:{port}/v1",
        "--data", str(cross / "data"), "--limit", "67", "--run-dir", str(run_dir), "--no-progress",
    ]  # fmt: skip

    done = subprocess.run(
        command,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 1, done.stderr
    assert f"cannot reach http://127.0.0.1:{port}/v1" in done.stderr
    assert "--base-url" in done.stderr
    assert "Traceback" not in done.stderr
    assert "pw-secret-0123" not in done.stderr + done.stdout
    assert export_generations(run_dir, "jsonl", tmp_path / "rows.jsonl") == 0
    assert read_manifest(run_dir)["generation"]["status"] == "interrupted"
