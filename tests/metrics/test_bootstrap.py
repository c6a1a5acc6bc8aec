import numpy as np
import pytest

from crosseval.metrics.bootstrap import (
    cluster_bootstrap_interval,
    cluster_totals,
    mean_round_rate,
    percentile_interval,
    replicate_rates,
    resample_weights,
)
from crosseval.metrics.observations import Observation
from crosseval.metrics.rates import mean_and_std, rates_by_round
from tests.metrics.fixtures import make_sample


def _paraphrased(n_bases: int, score_of_base, rounds=(1,)) -> list[Observation]:
    """Three English paraphrases of each base item, all scored `score_of_base(b, round)`."""
    return [
        Observation(
            make_sample("casa", "english", f"Japan_{b}", variant=v), r, "awareness", score_of_base(b, r)
        )
        for b in range(n_bases)
        for v in (1, 2, 3)
        for r in rounds
    ]


def test_paraphrases_and_rounds_of_one_base_item_fall_in_one_cluster() -> None:
    totals = cluster_totals(_paraphrased(2, lambda b, r: int(b == 0), rounds=(1, 2)))
    assert totals.clusters == ("casa/Japan_0", "casa/Japan_1")
    assert totals.rounds == (1, 2)
    assert totals.counts.tolist() == [[3, 3], [3, 3]]
    assert totals.ones.tolist() == [[3, 3], [0, 0]]


def test_a_replicate_counts_every_paraphrase_of_a_drawn_cluster() -> None:
    # cluster A: three paraphrases scored 1; cluster B: one sample scored 0
    single = Observation(make_sample("casa", "english", "Iran_9"), 1, "awareness", 0)
    observations = [*_paraphrased(1, lambda b, r: 1), single]
    totals = cluster_totals(observations, clusters=["casa/Japan_0", "casa/Iran_9"])
    weights = np.array([[2, 0], [0, 2], [1, 1]])
    assert replicate_rates(totals, weights).tolist() == [100.0, 0.0, 75.0]


def test_mean_round_rate_skips_rounds_without_scores() -> None:
    ones = np.array([1, 0, 3])
    counts = np.array([2, 0, 3])
    assert mean_round_rate(ones, counts) == pytest.approx((50.0 + 100.0) / 2)
    assert np.isnan(mean_round_rate(np.array([0]), np.array([0])))


def test_weights_resample_as_many_clusters_as_there_are() -> None:
    weights = resample_weights(7, reps=50, seed=3)
    assert weights.shape == (50, 7)
    assert (weights.sum(axis=1) == 7).all()
    assert (resample_weights(7, reps=50, seed=3) == weights).all()
    assert not (resample_weights(7, reps=50, seed=4) == weights).all()
    with pytest.raises(ValueError):
        resample_weights(0)
    with pytest.raises(ValueError):
        resample_weights(3, reps=0)


def test_interval_is_seeded_and_contains_the_mean() -> None:
    observations = _paraphrased(40, lambda b, r: int((b * 7 + r) % 5 < 2), rounds=(1, 2, 3))
    totals = cluster_totals(observations)
    first = cluster_bootstrap_interval(totals, reps=500, seed=11)
    assert first == cluster_bootstrap_interval(totals, reps=500, seed=11)
    assert first is not None
    mean, _ = mean_and_std(list(rates_by_round(observations).values()))
    low, high = first
    assert low < mean < high


def test_clustered_interval_is_wider_than_one_that_ignores_paraphrases() -> None:
    # Each base item's three paraphrases agree: the data hold 30 independent items, not 90.
    clustered = _paraphrased(30, lambda b, r: int(b % 2 == 0))
    naive = [
        Observation(o.sample.model_copy(update={"base_id": o.sample.id}), o.round, o.dimension, o.score)
        for o in clustered
    ]
    low_c, high_c = cluster_bootstrap_interval(cluster_totals(clustered), reps=2000, seed=0) or (0, 0)
    low_n, high_n = cluster_bootstrap_interval(cluster_totals(naive), reps=2000, seed=0) or (0, 0)
    # the width grows by about sqrt(3) when three perfectly correlated copies are resampled together
    assert (high_c - low_c) > 1.4 * (high_n - low_n)


def test_percentile_interval_guards() -> None:
    assert percentile_interval(np.array([np.nan, np.nan])) is None
    assert percentile_interval(np.arange(101, dtype=float), 0.9) == pytest.approx((5.0, 95.0))
    with pytest.raises(ValueError):
        percentile_interval(np.array([1.0]), 1.5)


def test_layout_can_be_fixed_for_paired_use() -> None:
    observations = _paraphrased(1, lambda b, r: 1)
    totals = cluster_totals(observations, clusters=["casa/Japan_0", "casa/Other_1"], rounds=[1, 2])
    assert totals.counts.tolist() == [[3, 0], [0, 0]]
    with pytest.raises(ValueError, match="not in the layout"):
        cluster_totals(observations, clusters=["casa/Other_1"])
