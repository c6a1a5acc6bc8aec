from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import formatdate

import pytest

from crosseval.engine.retry import RequestFailed, RetryPolicy, call_with_retry
from crosseval.models.openai_compat import OpenAICompatBackend
from crosseval.models.types import BackendError, GenerationRequest, Message
from tests.engine.fakes import ScriptedBackend, always, ok
from tests.helpers.openai_server import OpenAIServer, Reply

REQUEST = GenerationRequest(messages=(Message(role="user", text="hi"),))
FAST = RetryPolicy(
    max_attempts=4, base_delay_s=0.001, max_delay_s=0.01, total_timeout_s=5.0, attempt_timeout_s=1.0
)


def make_backend(base_url: str) -> OpenAICompatBackend:
    return OpenAICompatBackend(provider="openai", model="m", api_key="sk-retry-test-key", base_url=base_url)


async def test_retryable_errors_are_retried_until_success() -> None:
    script = [BackendError("rate_limit", "slow down"), BackendError("server", "boom"), ok("fine")]
    backend = ScriptedBackend(lambda request, n: script[n])
    delays: list[tuple[str, float]] = []

    result, attempts = await call_with_retry(
        backend, REQUEST, FAST, on_retry=lambda e, d: delays.append((e.kind, d))
    )

    assert result.text == "fine"
    assert attempts == 3
    assert [kind for kind, _ in delays] == ["rate_limit", "server"]
    assert all(0 <= delay <= FAST.max_delay_s for _, delay in delays)


@pytest.mark.parametrize(
    "kind", ["bad_request", "auth", "content_filter", "too_large", "malformed", "backend"]
)
async def test_non_retryable_kinds_fail_after_one_attempt(kind: str) -> None:
    backend = ScriptedBackend(always(BackendError(kind, "no")))  # type: ignore[arg-type]

    with pytest.raises(RequestFailed) as failed:
        await call_with_retry(backend, REQUEST, FAST)

    assert failed.value.attempts == 1
    assert failed.value.error.kind == kind
    assert len(backend.calls) == 1


async def test_attempts_are_bounded() -> None:
    backend = ScriptedBackend(always(BackendError("server", "down")))

    with pytest.raises(RequestFailed) as failed:
        await call_with_retry(backend, REQUEST, FAST)

    assert failed.value.attempts == FAST.max_attempts == len(backend.calls)
    assert "after 4 attempts" in str(failed.value)


async def test_attempt_timeout_becomes_a_timeout_error_and_is_retried() -> None:
    backend = ScriptedBackend(lambda request, n: 10.0 if n == 0 else ok())
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.01, attempt_timeout_s=0.05)
    kinds: list[str] = []

    result, attempts = await call_with_retry(
        backend, REQUEST, policy, on_retry=lambda e, d: kinds.append(e.kind)
    )

    assert (result.text, attempts, kinds) == ("answer", 2, ["timeout"])


async def test_retry_after_is_a_floor_even_beyond_max_delay() -> None:
    errors = [
        BackendError("rate_limit", "wait", retry_after=0.03),
        BackendError("rate_limit", "wait", retry_after=0.2),
    ]
    backend = ScriptedBackend(lambda request, n: errors[n] if n < 2 else ok())
    policy = RetryPolicy(max_attempts=5, base_delay_s=0.0001, max_delay_s=0.05, total_timeout_s=5.0)
    delays: list[float] = []

    await call_with_retry(backend, REQUEST, policy, on_retry=lambda e, d: delays.append(d))

    assert delays == [pytest.approx(0.03), pytest.approx(0.2)]


def test_jittered_backoff_never_undercuts_retry_after() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=10.0, jitter=True)

    assert all(policy.backoff_s(3, retry_after=3.5) >= 3.5 for _ in range(200))
    assert policy.backoff_s(1, retry_after=100_000.0) == 100_000.0


async def test_a_retry_after_longer_than_the_time_left_fails_at_once_saying_how_long() -> None:
    backend = ScriptedBackend(
        always(BackendError("rate_limit", "slow down", status_code=429, retry_after=1e5))
    )
    policy = RetryPolicy(max_attempts=6, total_timeout_s=600.0)

    with pytest.raises(RequestFailed) as failed:
        await call_with_retry(backend, REQUEST, policy)

    error = failed.value.error
    assert (failed.value.attempts, error.kind, error.status_code) == (1, "rate_limit", 429)
    assert error.message.startswith(
        "slow down (the server asked to wait 100,000 s (27.8 h) before trying again"
    )
    assert "of this request's 600 s" in error.message


async def test_total_timeout_ends_the_loop_before_a_backoff_would_pass_it() -> None:
    backend = ScriptedBackend(always(BackendError("server", "busy")))
    policy = RetryPolicy(
        max_attempts=100, base_delay_s=1.0, max_delay_s=2.0, total_timeout_s=0.5, jitter=False
    )

    with pytest.raises(RequestFailed) as failed:
        await call_with_retry(backend, REQUEST, policy)

    assert failed.value.attempts == 1
    assert failed.value.error.message == "busy"


def test_backoff_grows_exponentially_without_jitter_and_stays_under_the_ceiling_with_it() -> None:
    fixed = RetryPolicy(base_delay_s=1.0, max_delay_s=10.0, jitter=False)
    assert [fixed.backoff_s(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    jittered = RetryPolicy(base_delay_s=1.0, max_delay_s=10.0, jitter=True)
    samples = [jittered.backoff_s(3) for _ in range(200)]
    assert all(0.0 <= s <= 4.0 for s in samples)
    assert len(set(samples)) > 1


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="attempt_timeout_s"):
        RetryPolicy(attempt_timeout_s=-1)


async def test_unexpected_exceptions_propagate_unchanged() -> None:
    def script(request: GenerationRequest, n: int) -> BackendError:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await call_with_retry(ScriptedBackend(script), REQUEST, FAST)


# --- Retry-After from a real server -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "at_least_s"),
    [
        (429, lambda: {"Retry-After": "1"}, 1.0),
        (503, lambda: {"retry-after-ms": "300", "Retry-After": "1000"}, 0.3),
        # HTTP dates have whole seconds: "in 3 s" is more than 2 s away
        (429, lambda: {"Retry-After": formatdate(time.time() + 3, usegmt=True)}, 1.5),
    ],
    ids=["seconds", "milliseconds", "http-date"],
)
async def test_the_next_request_waits_as_long_as_the_server_asked(
    openai_server: OpenAIServer, status: int, headers: Callable[[], dict[str, str]], at_least_s: float
) -> None:
    first_reply = Reply(status=status, headers=headers())
    openai_server.script = lambda body, n: first_reply if n == 0 else Reply()
    backend = make_backend(openai_server.base_url)
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.01, total_timeout_s=30.0)

    result, attempts = await call_with_retry(backend, REQUEST, policy)
    await backend.aclose()

    assert (result.text, attempts) == ("ok", 2)
    first, second = openai_server.arrivals
    assert second - first >= at_least_s


async def test_retry_after_100000_fails_with_that_wait_in_the_message_and_no_second_request(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script = lambda body, n: Reply(status=429, text="quota", headers={"Retry-After": "100000"})
    backend = make_backend(openai_server.base_url)

    with pytest.raises(RequestFailed) as failed:
        await call_with_retry(backend, REQUEST, RetryPolicy())
    await backend.aclose()

    assert openai_server.count == 1
    assert failed.value.error.kind == "rate_limit"
    assert "the server asked to wait 100,000 s" in str(failed.value)
