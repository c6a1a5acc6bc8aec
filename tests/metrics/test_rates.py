import math

import pytest

from crosseval.metrics.observations import Observation
from crosseval.metrics.rates import mean_and_std, rate_percent, rates_by_round
from tests.metrics.fixtures import make_sample


def _obs(sample_index: str, variant: int, round_: int, score: int) -> Observation:
    return Observation(
        make_sample("casa", "english", sample_index, variant=variant), round_, "awareness", score
    )


def test_rate_percent_is_hundred_times_the_mean() -> None:
    assert rate_percent([1, 0, 0, 1]) == 50.0
    assert rate_percent([1, 1, 0]) == pytest.approx(200 / 3)


def test_rate_percent_refuses_nothing_and_non_binary_scores() -> None:
    with pytest.raises(ValueError, match="no scores"):
        rate_percent([])
    with pytest.raises(ValueError, match="0 or 1"):
        rate_percent([1, 2])


def test_rates_by_round_matches_a_hand_computed_table() -> None:
    # round 1: A/v1=1, A/v2=1, B/v1=0 -> 2/3; round 2: A/v1=1, A/v2=0, B/v1=0 -> 1/3
    observations = [
        _obs("Japan_1", 1, 1, 1),
        _obs("Japan_1", 2, 1, 1),
        _obs("Japan_2", 1, 1, 0),
        _obs("Japan_1", 1, 2, 1),
        _obs("Japan_1", 2, 2, 0),
        _obs("Japan_2", 1, 2, 0),
    ]
    rates = rates_by_round(observations)
    assert list(rates) == [1, 2]
    assert rates[1] == pytest.approx(66.6666667)
    assert rates[2] == pytest.approx(33.3333333)


def test_mean_and_std_over_rounds() -> None:
    mean, std = mean_and_std([200 / 3, 100 / 3])
    assert mean == pytest.approx(50.0)
    # sample std (ddof=1) of two values 100/3 apart: (100/3) / sqrt(2)
    assert std == pytest.approx(100 / 3 / math.sqrt(2))


def test_single_round_has_no_std_and_empty_input_is_refused() -> None:
    assert mean_and_std([40.0]) == (40.0, None)
    with pytest.raises(ValueError):
        mean_and_std([])
