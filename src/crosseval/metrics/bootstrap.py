"""Cluster bootstrap over base items, vectorised with numpy.

The three English paraphrases, the translation and every round of one base item are not
independent draws: a model that misses a norm tends to miss it in every wording. Resampling whole
base items (clusters) keeps that dependence, so the intervals are honest about it.

Resampling C clusters with replacement is the same as giving each cluster a count of how often it
was drawn; with per-cluster, per-round totals of 1s and scores, every replicate is one
matrix product. The statistic of a replicate is the mean over rounds of each round's rate, the same
statistic as the point estimate (`crosseval.metrics.rates`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from crosseval.metrics.observations import Observation

DEFAULT_REPS = 2000
DEFAULT_CONFIDENCE = 0.95

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ClusterTotals:
    """Per cluster and round: how many scores, and how many of them are 1."""

    clusters: tuple[str, ...]
    rounds: tuple[int, ...]
    ones: IntArray
    """Shape (clusters, rounds)."""
    counts: IntArray
    """Shape (clusters, rounds)."""


def cluster_totals(
    observations: Iterable[Observation],
    *,
    clusters: Sequence[str] | None = None,
    rounds: Sequence[int] | None = None,
) -> ClusterTotals:
    """Totals of the observations by cluster (base item) and round.

    Pass `clusters` and `rounds` to fix the layout, so that two runs can share resampling weights
    (paired bootstrap); clusters or rounds without observations then get zero totals.
    """
    items = list(observations)
    cluster_order = tuple(clusters) if clusters is not None else tuple(sorted({o.cluster for o in items}))
    round_order = tuple(rounds) if rounds is not None else tuple(sorted({o.round for o in items}))
    cluster_index = {c: i for i, c in enumerate(cluster_order)}
    round_index = {r: i for i, r in enumerate(round_order)}
    ones = np.zeros((len(cluster_order), len(round_order)), dtype=np.int64)
    counts = np.zeros_like(ones)
    for o in items:
        if o.cluster not in cluster_index:
            raise ValueError(f"observation of {o.sample.id} is in cluster {o.cluster!r}, not in the layout")
        if o.round not in round_index:
            raise ValueError(f"observation of {o.sample.id} is in round {o.round}, not in the layout")
        ci, ri = cluster_index[o.cluster], round_index[o.round]
        counts[ci, ri] += 1
        ones[ci, ri] += o.score
    return ClusterTotals(cluster_order, round_order, ones, counts)


def resample_weights(n_clusters: int, *, reps: int = DEFAULT_REPS, seed: int = 0) -> IntArray:
    """(reps, n_clusters) draw counts: row r says how often each cluster was drawn in replicate r.

    The result is read-only and cached: every dimension of a group shares one set of draws.
    """
    if n_clusters < 1:
        raise ValueError("the bootstrap needs at least one cluster")
    if reps < 1:
        raise ValueError(f"bootstrap reps must be at least 1, got {reps}")
    return _resample_weights(n_clusters, reps, seed)


@lru_cache(maxsize=32)
def _resample_weights(n_clusters: int, reps: int, seed: int) -> IntArray:
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_clusters, size=(reps, n_clusters))
    offsets = np.arange(reps, dtype=np.int64)[:, None] * n_clusters
    weights = np.bincount((draws + offsets).ravel(), minlength=reps * n_clusters).reshape(reps, n_clusters)
    weights = weights.astype(np.int64)
    weights.flags.writeable = False
    return weights


def mean_round_rate(ones: npt.NDArray[np.integer], counts: npt.NDArray[np.integer]) -> FloatArray:
    """Mean over rounds of each round's rate (percent), for totals shaped (..., rounds).

    Rounds with no scores are left out of the mean; when no round has a score the result is NaN.
    """
    has_scores = counts > 0
    rates = np.where(has_scores, 100.0 * ones / np.maximum(counts, 1), 0.0)
    n_rounds = has_scores.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rounds > 0, rates.sum(axis=-1) / np.maximum(n_rounds, 1), np.nan)


def replicate_rates(totals: ClusterTotals, weights: IntArray) -> FloatArray:
    """The statistic (mean over rounds of the rate, percent) of every bootstrap replicate."""
    if weights.shape[1] != len(totals.clusters):
        raise ValueError(f"weights are for {weights.shape[1]} clusters, totals have {len(totals.clusters)}")
    return mean_round_rate(weights @ totals.ones, weights @ totals.counts)


def percentile_interval(
    replicates: FloatArray, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float] | None:
    """The central `confidence` percentile interval of the finite replicates, or None if there are none."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return None
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def cluster_bootstrap_interval(
    totals: ClusterTotals,
    *,
    reps: int = DEFAULT_REPS,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[float, float] | None:
    """A percentile interval for the mean-over-rounds rate, resampling whole clusters."""
    if not totals.clusters:
        return None
    weights = resample_weights(len(totals.clusters), reps=reps, seed=seed)
    return percentile_interval(replicate_rates(totals, weights), confidence)
