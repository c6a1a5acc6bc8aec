"""Token usage, kept apart for the model under test and for the judge (the issue asks for both)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crosseval.engine.store import GenerationRecord, VerdictRecord


@dataclass(frozen=True)
class Usage:
    """Stored records of one side (model or judge), their attempts and summed tokens."""

    records: int
    attempts: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class TokenUsage:
    """What the model under test (`requests`: its generations) and the judge (`verdicts`) spent."""

    model: Usage
    judge: Usage

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": {"requests": self.model.records, **_counts(self.model)},
            "judge": {"verdicts": self.judge.records, **_counts(self.judge)},
        }


def _counts(usage: Usage) -> dict[str, int]:
    return {
        "attempts": usage.attempts,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
    }


def token_usage(generations: Sequence[GenerationRecord], verdicts: Sequence[VerdictRecord]) -> TokenUsage:
    """Summed prompt and completion tokens as stored; a record without counts adds nothing.

    Judge tokens are summed over the given verdicts as the judge stored them.
    """
    return TokenUsage(model=_usage(generations), judge=_usage(verdicts))


def _usage(records: Sequence[GenerationRecord] | Sequence[VerdictRecord]) -> Usage:
    return Usage(
        records=len(records),
        attempts=sum(r.attempts for r in records),
        prompt_tokens=sum(r.prompt_tokens or 0 for r in records),
        completion_tokens=sum(r.completion_tokens or 0 for r in records),
    )
