"""Bounded retries around one backend call: exponential backoff with full jitter, `Retry-After` honoured.

A backend performs exactly one attempt per `generate`; this module decides whether and when to try
again. Every attempt runs under its own timeout, and three limits end the loop: the number of
attempts, the total time, and an error kind that retrying cannot fix (4xx other than 408/409/429,
content filters, payloads over a provider's limit, replies that are not the protocol).

A server's `Retry-After` is obeyed to the letter: the next attempt never starts earlier than it asks,
however long that is. When the wait does not fit in what is left of the request's total time, the
request fails at once with the server's error, and the message says how long the server asked for.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from crosseval.models.types import BackendError, GenerationRequest, GenerationResult, ModelBackend

RetryCallback = Callable[[BackendError, float], None]
"""Called before each backoff with the error that caused it and the delay about to be slept (seconds)."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    """Ceiling of the exponential backoff; a server's `Retry-After` is honoured beyond it."""
    total_timeout_s: float = 600.0
    """Wall time allowed for all attempts and backoffs of one request together."""
    attempt_timeout_s: float = 120.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("base_delay_s", "max_delay_s", "total_timeout_s", "attempt_timeout_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")

    def backoff_s(self, failed_attempts: int, retry_after: float | None = None) -> float:
        """The delay before the next attempt after `failed_attempts` failures (1 for the first retry).

        Full jitter: uniform in [0, min(max_delay, base * 2^(n-1))]. A server's `Retry-After` is a
        floor, uncapped: never retry earlier than asked (`call_with_retry` gives up if it is too long).
        """
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (failed_attempts - 1))
        delay = random.uniform(0.0, ceiling) if self.jitter else ceiling
        return delay if retry_after is None else max(delay, retry_after)


class RequestFailed(Exception):
    """A request that ended without a result: the last attempt's error and how many attempts were made."""

    def __init__(self, error: BackendError, attempts: int) -> None:
        super().__init__(f"{error} (after {attempts} attempt{'s' if attempts != 1 else ''})")
        self.error = error
        self.attempts = attempts


async def call_with_retry(
    backend: ModelBackend,
    request: GenerationRequest,
    policy: RetryPolicy,
    *,
    on_retry: RetryCallback | None = None,
) -> tuple[GenerationResult, int]:
    """Send `request` until it succeeds or a limit ends it; returns the result and the attempts used.

    Raises `RequestFailed` with the last `BackendError` when attempts, total time or a non-retryable
    error end the loop. Any other exception from the backend is a bug and propagates unchanged.
    """
    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        remaining = policy.total_timeout_s - (time.monotonic() - started)
        attempt_timeout = max(0.0, min(policy.attempt_timeout_s, remaining))
        try:
            async with asyncio.timeout(attempt_timeout):
                return await backend.generate(request), attempts
        except TimeoutError:
            error = BackendError("timeout", f"no answer within {attempt_timeout:.1f} s")
        except BackendError as exc:
            error = exc
        if not error.retryable or attempts >= policy.max_attempts:
            raise RequestFailed(error, attempts)
        delay = policy.backoff_s(attempts, error.retry_after)
        remaining = policy.total_timeout_s - (time.monotonic() - started)
        if delay >= remaining:
            raise RequestFailed(_out_of_time(error, remaining, policy), attempts)
        if on_retry is not None:
            on_retry(error, delay)
        await asyncio.sleep(delay)


def _out_of_time(error: BackendError, remaining_s: float, policy: RetryPolicy) -> BackendError:
    """`error`, saying so when it was the server's `Retry-After` that did not fit in the request's time."""
    if error.retry_after is None or error.retry_after < remaining_s:
        return error
    message = (
        f"{error.message} (the server asked to wait {_seconds(error.retry_after)} before trying again, "
        f"more than the {_seconds(max(remaining_s, 0.0))} left of this request's "
        f"{_seconds(policy.total_timeout_s)})"
    )
    return BackendError(error.kind, message, status_code=error.status_code, retry_after=error.retry_after)


def _seconds(seconds: float) -> str:
    hours = f" ({seconds / 3600:.1f} h)" if seconds >= 3600 else ""
    return f"{seconds:,.0f} s{hours}" if seconds >= 10 else f"{seconds:.1f} s"
