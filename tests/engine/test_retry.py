from __future__ import annotations

import pytest

from crosseval.engine.retry import RequestFailed, RetryPolicy, call_with_retry
from crosseval.models.types import BackendError, GenerationRequest, Message
from tests.engine.fakes import ScriptedBackend, always, ok

REQUEST = GenerationRequest(messages=(Message(role="user", text="hi"),))
FAST = RetryPolicy(
    max_attempts=4, base_delay_s=0.001, max_delay_s=0.01, total_timeout_s=5.0, attempt_timeout_s=1.0
)


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


@pytest.mark.parametrize("kind", ["bad_request", "auth", "content_filter", "too_large", "backend"])
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


async def test_retry_after_is_a_floor_capped_by_max_delay() -> None:
    errors = [
        BackendError("rate_limit", "wait", retry_after=0.03),
        BackendError("rate_limit", "wait", retry_after=99.0),
    ]
    backend = ScriptedBackend(lambda request, n: errors[n] if n < 2 else ok())
    policy = RetryPolicy(max_attempts=5, base_delay_s=0.0001, max_delay_s=0.05, total_timeout_s=5.0)
    delays: list[float] = []

    await call_with_retry(backend, REQUEST, policy, on_retry=lambda e, d: delays.append(d))

    assert delays == [pytest.approx(0.03), pytest.approx(0.05)]


async def test_total_timeout_ends_the_loop_before_a_backoff_would_pass_it() -> None:
    backend = ScriptedBackend(always(BackendError("rate_limit", "wait", retry_after=1.0)))
    policy = RetryPolicy(max_attempts=100, base_delay_s=0.001, max_delay_s=2.0, total_timeout_s=0.5)

    with pytest.raises(RequestFailed) as failed:
        await call_with_retry(backend, REQUEST, policy)

    assert failed.value.attempts == 1
    assert failed.value.error.kind == "rate_limit"


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
