"""One reported number with its uncertainty: mean over rounds, spread over rounds, bootstrap interval."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from crosseval.metrics.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_REPS,
    cluster_bootstrap_interval,
    cluster_totals,
)
from crosseval.metrics.observations import Observation
from crosseval.metrics.rates import mean_and_std, rates_by_round
from crosseval.vocabulary import REPORTED_DIMENSIONS, ReportedDimension


@dataclass(frozen=True)
class BootstrapSettings:
    """How intervals are computed: replicates, seed and confidence level. Seeded, so reports repeat."""

    reps: int = DEFAULT_REPS
    seed: int = 0
    confidence: float = DEFAULT_CONFIDENCE

    def __post_init__(self) -> None:
        if self.reps < 1:
            raise ValueError(f"bootstrap reps must be at least 1, got {self.reps}")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must be between 0 and 1, got {self.confidence}")


@dataclass(frozen=True)
class RateSummary:
    """A rate in percent: mean over rounds, std over rounds, interval, and the number of `ok` scores.

    `mean` is None when no score exists (a rate of nothing is unknown, not 0); `std` is None with a
    single round.
    """

    mean: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    per_round: dict[int, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "std": self.std,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
            "per_round": {str(r): v for r, v in self.per_round.items()},
        }


EMPTY_SUMMARY = RateSummary(mean=None, std=None, ci_low=None, ci_high=None, n=0)


def summarize_rate(observations: Sequence[Observation], settings: BootstrapSettings) -> RateSummary:
    """The summary of one dimension's observations in one group."""
    if not observations:
        return EMPTY_SUMMARY
    dimensions = {o.dimension for o in observations}
    if len(dimensions) > 1:
        raise ValueError(f"a rate is over one dimension, got {sorted(dimensions)}")
    per_round = rates_by_round(observations)
    mean, std = mean_and_std(list(per_round.values()))
    interval = cluster_bootstrap_interval(
        cluster_totals(observations), reps=settings.reps, seed=settings.seed, confidence=settings.confidence
    )
    low, high = interval if interval is not None else (None, None)
    return RateSummary(mean=mean, std=std, ci_low=low, ci_high=high, n=len(observations), per_round=per_round)


def summarize_dimensions(
    observations: Iterable[Observation], settings: BootstrapSettings
) -> dict[ReportedDimension, RateSummary]:
    """A summary per reported dimension (all four, empty ones included)."""
    by_dimension: dict[ReportedDimension, list[Observation]] = {d: [] for d in REPORTED_DIMENSIONS}
    for o in observations:
        by_dimension[o.dimension].append(o)
    return {d: summarize_rate(obs, settings) for d, obs in by_dimension.items()}
