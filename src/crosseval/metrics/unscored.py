"""What did not become a score, and why: failed generations and verdicts that are not `ok`.

Reports show these counts beside every table, so a rate over fewer responses is never mistaken for
a rate over all of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crosseval.data.records import Sample
from crosseval.engine.store import DIMENSIONS, GenerationRecord, VerdictRecord
from crosseval.metrics.observations import REPORTED_DIMENSIONS, latest_verdicts, reported_dimension

NOT_OK_VERDICT_STATUSES: tuple[str, ...] = ("parse_error", "api_error", "refused")


def error_kind(error: str | None) -> str:
    """The leading word of a stored error (`rate_limit 429: ...` -> `rate_limit`), or `unknown`.

    Used for generations stored without an `error_kind`.
    """
    if not error or not error.strip():
        return "unknown"
    head = error.strip().split(maxsplit=1)[0]
    return head.rstrip(":") or "unknown"


@dataclass(frozen=True)
class UnscoredCounts:
    """Counts of everything that did not become a score under one judge configuration."""

    generations: int
    failed_generations: int
    failed_generations_by_kind: dict[str, int]
    verdicts_by_status: dict[str, int]
    """ok / parse_error / api_error / refused, over every dimension."""
    unscored_by_dimension: dict[str, dict[str, int]] = field(default_factory=dict)
    """Reported dimension -> not-ok status -> count."""
    missing_verdicts: int = 0
    """(successful generation, dimension) pairs this judge configuration has no verdict for."""
    ignored_verdicts: int = 0
    """Verdicts on a failed or unknown generation or sample: stored, but never scored."""

    @property
    def unscored_verdicts(self) -> int:
        return sum(self.verdicts_by_status.get(s, 0) for s in NOT_OK_VERDICT_STATUSES)

    def as_dict(self) -> dict[str, Any]:
        return {
            "generations": self.generations,
            "failed_generations": self.failed_generations,
            "failed_generations_by_kind": dict(self.failed_generations_by_kind),
            "verdicts": dict(self.verdicts_by_status),
            "unscored_verdicts": self.unscored_verdicts,
            "by_dimension": {d: dict(c) for d, c in self.unscored_by_dimension.items()},
            "missing_verdicts": self.missing_verdicts,
            "ignored_verdicts": self.ignored_verdicts,
        }


def count_unscored(
    samples: Sequence[Sample],
    generations: Sequence[GenerationRecord],
    verdicts: Sequence[VerdictRecord],
) -> UnscoredCounts:
    """Counts for one judge configuration's verdicts (pass them already filtered)."""
    sample_ids = {s.id for s in samples}
    ok_generations = {g.key for g in generations if g.status == "ok" and g.sample_id in sample_ids}
    failed = [g for g in generations if g.status == "error"]
    by_status: Counter[str] = Counter({status: 0 for status in ("ok", *NOT_OK_VERDICT_STATUSES)})
    by_dimension: dict[str, Counter[str]] = {
        d: Counter({s: 0 for s in NOT_OK_VERDICT_STATUSES}) for d in REPORTED_DIMENSIONS
    }
    judged: set[tuple[str, str]] = set()
    ignored = 0
    for verdict in latest_verdicts(verdicts):
        if verdict.generation_key not in ok_generations or verdict.sample_id not in sample_ids:
            ignored += 1
            continue
        judged.add((verdict.generation_key, verdict.dimension))
        by_status[verdict.status] += 1
        if verdict.status != "ok":
            by_dimension[reported_dimension(verdict.dimension)][verdict.status] += 1
    missing = len(ok_generations) * len(DIMENSIONS) - len(judged)
    return UnscoredCounts(
        generations=len(generations),
        failed_generations=len(failed),
        failed_generations_by_kind=dict(
            sorted(Counter(g.error_kind or error_kind(g.error) for g in failed).items())
        ),
        verdicts_by_status=dict(by_status),
        unscored_by_dimension={d: dict(c) for d, c in by_dimension.items()},
        missing_verdicts=missing,
        ignored_verdicts=ignored,
    )
