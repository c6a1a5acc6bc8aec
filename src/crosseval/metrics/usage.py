"""Token usage, kept apart for the model under test and for the judge (the issue asks for both)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crosseval.engine.store import GenerationRecord, VerdictRecord


def token_usage(generations: Sequence[GenerationRecord], verdicts: Sequence[VerdictRecord]) -> dict[str, Any]:
    """Summed prompt and completion tokens as stored; a record without counts adds nothing.

    Judge tokens are summed over the given verdicts as the judge stored them.
    """
    return {
        "model": {
            "requests": len(generations),
            "attempts": sum(g.attempts for g in generations),
            "prompt_tokens": sum(g.prompt_tokens or 0 for g in generations),
            "completion_tokens": sum(g.completion_tokens or 0 for g in generations),
        },
        "judge": {
            "verdicts": len(verdicts),
            "attempts": sum(v.attempts for v in verdicts),
            "prompt_tokens": sum(v.prompt_tokens or 0 for v in verdicts),
            "completion_tokens": sum(v.completion_tokens or 0 for v in verdicts),
        },
    }
