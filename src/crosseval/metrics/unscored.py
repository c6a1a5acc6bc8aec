"""What did not become a score, and why: failed generations and verdicts that are not `ok`.

Reports show these counts beside every table, so a rate over fewer responses is never mistaken for
a rate over all of them; `unscored_by_language` splits the verdict statuses by the language each
sample was asked in, so losses that cluster in one language show.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crosseval.data.records import Sample
from crosseval.engine.store import GenerationRecord, VerdictRecord
from crosseval.metrics.observations import latest_verdicts
from crosseval.vocabulary import (
    DIMENSIONS,
    REPORTED_DIMENSIONS,
    UNSCORED_STATUSES,
    VERDICT_STATUSES,
    VerdictStatus,
    reported_dimension,
)


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
        return sum(self.verdicts_by_status.get(s, 0) for s in UNSCORED_STATUSES)

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
    by_status: Counter[str] = Counter(dict.fromkeys(VERDICT_STATUSES, 0))
    by_dimension: dict[str, Counter[str]] = {
        d: Counter(dict.fromkeys(UNSCORED_STATUSES, 0)) for d in REPORTED_DIMENSIONS
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


def unscored_by_language(
    samples: Sequence[Sample], generations: Sequence[GenerationRecord], verdicts: Sequence[VerdictRecord]
) -> dict[str, dict[VerdictStatus, int]]:
    """Language asked in -> verdict status -> count, for one judge configuration's verdicts.

    Every language of the run's samples is listed (sorted, `English` first), with every status, `ok`
    included so each loss has its denominator. Verdicts `count_unscored` ignores are left out here too.
    """
    language_of = {s.id: s.language for s in samples}
    ok_generations = {g.key for g in generations if g.status == "ok"}
    languages = sorted(set(language_of.values()), key=lambda language: (language != "English", language))
    counts = {language: dict.fromkeys(VERDICT_STATUSES, 0) for language in languages}
    for verdict in latest_verdicts(verdicts):
        language = language_of.get(verdict.sample_id)
        if language is not None and verdict.generation_key in ok_generations:
            counts[language][verdict.status] += 1
    return counts
