"""In-test backends that script each attempt's outcome, for engine tests without HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from crosseval.models.types import BackendError, GenerationRequest, GenerationResult

Outcome = GenerationResult | BackendError | float
"""A result, an error to raise, or a number of seconds to hang (then answer "late")."""


class ScriptedBackend:
    """Answers attempt n (0-based, over all requests) with `script(request, n)`."""

    def __init__(
        self, script: Callable[[GenerationRequest, int], Outcome], model: str = "fake/model"
    ) -> None:
        self.script = script
        self.model = model
        self.calls: list[GenerationRequest] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.closed = False

    @property
    def identity(self) -> dict[str, Any]:
        return {"provider": "fake", "model": self.model}

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        n = len(self.calls)
        self.calls.append(request)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
            outcome = self.script(request, n)
            if isinstance(outcome, BackendError):
                raise outcome
            if isinstance(outcome, float):
                await asyncio.sleep(outcome)
                return GenerationResult(text="late")
            return outcome
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        self.closed = True


def always(outcome: Outcome) -> Callable[[GenerationRequest, int], Outcome]:
    return lambda request, n: outcome


def ok(text: str = "answer") -> GenerationResult:
    return GenerationResult(
        text=text, finish_reason="stop", prompt_tokens=10, completion_tokens=5, latency_s=0.01
    )


class LoadingBackend(ScriptedBackend):
    """A `ScriptedBackend` that, like the in-process ones, has a model to load first (counted, maybe failing)."""

    def __init__(
        self, script: Callable[[GenerationRequest, int], Outcome], load_error: Exception | None = None
    ) -> None:
        super().__init__(script)
        self.load_error = load_error
        self.loads = 0
        self.loaded_before_first_call: bool | None = None

    async def load(self) -> None:
        self.loads += 1
        if self.load_error is not None:
            raise self.load_error

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        if self.loaded_before_first_call is None:
            self.loaded_before_first_call = self.loads == 1
        return await super().generate(request)
