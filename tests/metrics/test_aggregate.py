import math

import pytest

from crosseval.metrics.aggregate import BootstrapSettings, summarize_dimensions, summarize_rate
from crosseval.metrics.observations import Observation
from tests.metrics.fixtures import make_sample

SETTINGS = BootstrapSettings(reps=400, seed=1)


def _table() -> list[Observation]:
    """Hand-computed: round 1 -> 2 of 3 (66.7%), round 2 -> 1 of 3 (33.3%); mean 50, std 23.57."""
    a1 = make_sample("casa", "english", "Japan_1", variant=1)
    a2 = make_sample("casa", "english", "Japan_1", variant=2)
    b1 = make_sample("casa", "english", "Japan_2", variant=1)
    rows = [(a1, 1, 1), (a2, 1, 1), (b1, 1, 0), (a1, 2, 1), (a2, 2, 0), (b1, 2, 0)]
    return [Observation(sample, round_, "awareness", score) for sample, round_, score in rows]


def test_summary_matches_the_hand_computed_table() -> None:
    summary = summarize_rate(_table(), SETTINGS)
    assert summary.mean == pytest.approx(50.0)
    assert summary.std == pytest.approx(100 / 3 / math.sqrt(2))  # 23.57
    assert summary.n == 6
    assert summary.per_round == pytest.approx({1: 200 / 3, 2: 100 / 3})
    assert summary.ci_low is not None and summary.ci_high is not None
    assert 0.0 <= summary.ci_low <= 50.0 <= summary.ci_high <= 100.0


def test_summary_dict_has_the_report_fields() -> None:
    assert set(summarize_rate(_table(), SETTINGS).as_dict()) == {
        "mean",
        "std",
        "ci_low",
        "ci_high",
        "n",
        "per_round",
    }


def test_nothing_scored_is_unknown_not_zero() -> None:
    summary = summarize_rate([], SETTINGS)
    assert (summary.mean, summary.ci_low, summary.ci_high, summary.n) == (None, None, None, 0)


def test_all_four_dimensions_are_summarised_even_when_empty() -> None:
    summaries = summarize_dimensions(_table(), SETTINGS)
    assert list(summaries) == ["awareness", "education", "compliance", "helpfulness"]
    assert summaries["awareness"].n == 6
    assert summaries["education"].mean is None


def test_mixing_dimensions_in_one_rate_is_refused() -> None:
    table = _table()
    mixed = [*table, Observation(table[0].sample, 1, "education", 1)]
    with pytest.raises(ValueError, match="one dimension"):
        summarize_rate(mixed, SETTINGS)


def test_settings_guards() -> None:
    with pytest.raises(ValueError):
        BootstrapSettings(reps=0)
    with pytest.raises(ValueError):
        BootstrapSettings(confidence=1.0)
