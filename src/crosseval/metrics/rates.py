"""Point estimates: the percentage of 1s per round, and the mean and spread over rounds.

The paper runs several rounds of generation and judging and reports the mean over rounds of each
round's rate; these functions compute exactly that, with guards for empty inputs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from crosseval.metrics.observations import Observation


def rate_percent(scores: Sequence[int]) -> float:
    """100 x the mean of 0/1 scores. Raises on an empty input: a rate of nothing is not 0."""
    if not scores:
        raise ValueError("cannot compute a rate over no scores")
    for score in scores:
        if score not in (0, 1):
            raise ValueError(f"scores must be 0 or 1, got {score!r}")
    return 100.0 * sum(scores) / len(scores)


def rates_by_round(observations: Iterable[Observation]) -> dict[int, float]:
    """Round -> rate in percent, over the given observations (one dimension, one group)."""
    scores: dict[int, list[int]] = defaultdict(list)
    for observation in observations:
        scores[observation.round].append(observation.score)
    return {round_: rate_percent(values) for round_, values in sorted(scores.items())}


def mean_and_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof=1) of per-round rates.

    The standard deviation is `None` for a single round: one value has no spread to estimate.
    """
    if not values:
        raise ValueError("cannot average no values")
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, None
    variance = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance)
