"""Paired comparison of two runs over the same samples: differences, intervals and McNemar tests.

Per reported dimension:
- the difference of the two reported rates (A - B, percentage points, each the mean over rounds),
  with a paired cluster-bootstrap interval: both runs are resampled with the same base items;
- McNemar's exact test on per-sample outcomes. Rounds are exchangeable draws, so pairing round 1
  of A with round 1 of B means nothing; instead each sample's outcome in a run is the majority over
  its scored rounds, and samples whose majority is tied in either run (e.g. one 1 and one 0) are
  left out and counted. The test treats samples as independent; paraphrases of one base item are
  not, so read its p-value as optimistic and the clustered interval as the robust statement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from scipy.stats import binomtest

from crosseval.data.records import Sample
from crosseval.metrics.aggregate import BootstrapSettings
from crosseval.metrics.bootstrap import (
    cluster_totals,
    mean_round_rate,
    percentile_interval,
    replicate_rates,
    resample_weights,
)
from crosseval.metrics.observations import Observation
from crosseval.metrics.runs import RunInputError
from crosseval.vocabulary import REPORTED_DIMENSIONS, ReportedDimension


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts.

    `a_only`: pairs where A scored 1 and B 0; `b_only`: the reverse. Under the null hypothesis each
    discordant pair is a fair coin, so the test is a binomial test of `a_only` out of both.
    """
    if a_only < 0 or b_only < 0:
        raise ValueError(f"discordant counts must be non-negative, got {a_only} and {b_only}")
    if a_only + b_only == 0:
        return 1.0
    return float(binomtest(a_only, a_only + b_only, 0.5, alternative="two-sided").pvalue)


def _fingerprint(sample: Sample) -> tuple[str, str, str]:
    return (sample.prompt_text, sample.norm, sample.image.url)


def check_same_samples(
    label_a: str, samples_a: Sequence[Sample], label_b: str, samples_b: Sequence[Sample]
) -> None:
    """Raises `RunInputError` unless both runs hold the same samples with the same content."""
    by_id_a = {s.id: s for s in samples_a}
    by_id_b = {s.id: s for s in samples_b}
    only_a = sorted(by_id_a.keys() - by_id_b.keys())
    only_b = sorted(by_id_b.keys() - by_id_a.keys())
    if only_a or only_b:
        parts = []
        if only_a:
            parts.append(f"{len(only_a)} only in {label_a} (e.g. {', '.join(only_a[:3])})")
        if only_b:
            parts.append(f"{len(only_b)} only in {label_b} (e.g. {', '.join(only_b[:3])})")
        raise RunInputError(
            f"{label_a} and {label_b} cover different sample sets: {'; '.join(parts)}. "
            "A paired comparison needs both runs over the same samples."
        )
    changed = sorted(i for i in by_id_a if _fingerprint(by_id_a[i]) != _fingerprint(by_id_b[i]))
    if changed:
        raise RunInputError(
            f"{label_a} and {label_b} use different datasets: {len(changed)} samples differ in query, norm "
            f"or image (e.g. {', '.join(changed[:3])})"
        )


def majority_outcomes(observations: Iterable[Observation]) -> dict[tuple[str, ReportedDimension], int | None]:
    """(sample id, dimension) -> the majority score over scored rounds, or None on a tie."""
    votes: dict[tuple[str, ReportedDimension], list[int]] = defaultdict(list)
    for o in observations:
        votes[(o.sample.id, o.dimension)].append(o.score)
    outcomes: dict[tuple[str, ReportedDimension], int | None] = {}
    for slot, scores in votes.items():
        ones = sum(scores)
        zeros = len(scores) - ones
        outcomes[slot] = None if ones == zeros else int(ones > zeros)
    return outcomes


@dataclass(frozen=True)
class PairedDimension:
    """One dimension of a paired comparison (rates in percent, difference in percentage points)."""

    dimension: ReportedDimension
    mean_a: float | None
    mean_b: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    n_a: int
    n_b: int
    pairs: int
    """Samples with an untied majority in both runs: the McNemar sample size."""
    a_only: int
    """Pairs where A scored 1 and B scored 0."""
    b_only: int
    ties_excluded: int
    """Samples scored in both runs but tied in at least one of them."""
    p_value: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "mean_a": self.mean_a,
            "mean_b": self.mean_b,
            "difference": self.difference,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n_a": self.n_a,
            "n_b": self.n_b,
            "pairs": self.pairs,
            "a_only": self.a_only,
            "b_only": self.b_only,
            "ties_excluded": self.ties_excluded,
            "p_value": self.p_value,
        }


def _compare_dimension(
    dimension: ReportedDimension,
    obs_a: list[Observation],
    obs_b: list[Observation],
    settings: BootstrapSettings,
) -> PairedDimension:
    clusters = sorted({o.cluster for o in obs_a} | {o.cluster for o in obs_b})
    rounds = sorted({o.round for o in obs_a} | {o.round for o in obs_b})
    mean_a = mean_b = difference = low = high = None
    if obs_a and obs_b:
        totals_a = cluster_totals(obs_a, clusters=clusters, rounds=rounds)
        totals_b = cluster_totals(obs_b, clusters=clusters, rounds=rounds)
        mean_a = float(mean_round_rate(totals_a.ones.sum(axis=0), totals_a.counts.sum(axis=0)))
        mean_b = float(mean_round_rate(totals_b.ones.sum(axis=0), totals_b.counts.sum(axis=0)))
        difference = mean_a - mean_b
        weights = resample_weights(len(clusters), reps=settings.reps, seed=settings.seed)
        replicates = replicate_rates(totals_a, weights) - replicate_rates(totals_b, weights)
        interval = percentile_interval(replicates, settings.confidence)
        if interval is not None:
            low, high = interval
    outcomes_a = majority_outcomes(obs_a)
    outcomes_b = majority_outcomes(obs_b)
    a_only = b_only = pairs = ties = 0
    for slot in outcomes_a.keys() & outcomes_b.keys():
        a, b = outcomes_a[slot], outcomes_b[slot]
        if a is None or b is None:
            ties += 1
            continue
        pairs += 1
        a_only += int(a == 1 and b == 0)
        b_only += int(a == 0 and b == 1)
    return PairedDimension(
        dimension=dimension,
        mean_a=mean_a,
        mean_b=mean_b,
        difference=difference,
        ci_low=low,
        ci_high=high,
        n_a=len(obs_a),
        n_b=len(obs_b),
        pairs=pairs,
        a_only=a_only,
        b_only=b_only,
        ties_excluded=ties,
        p_value=mcnemar_exact(a_only, b_only) if pairs else None,
    )


def paired_comparison(
    observations_a: Iterable[Observation],
    observations_b: Iterable[Observation],
    settings: BootstrapSettings,
) -> dict[ReportedDimension, PairedDimension]:
    """A vs B per reported dimension. Check the sample sets first with `check_same_samples`."""
    split_a: dict[ReportedDimension, list[Observation]] = {d: [] for d in REPORTED_DIMENSIONS}
    split_b: dict[ReportedDimension, list[Observation]] = {d: [] for d in REPORTED_DIMENSIONS}
    for o in observations_a:
        split_a[o.dimension].append(o)
    for o in observations_b:
        split_b[o.dimension].append(o)
    return {d: _compare_dimension(d, split_a[d], split_b[d], settings) for d in REPORTED_DIMENSIONS}
