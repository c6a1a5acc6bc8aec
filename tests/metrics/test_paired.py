import pytest

from crosseval.metrics.aggregate import BootstrapSettings
from crosseval.metrics.observations import Observation
from crosseval.metrics.paired import check_same_samples, majority_outcomes, mcnemar_exact, paired_comparison
from crosseval.metrics.runs import RunInputError
from tests.metrics.fixtures import make_sample

SETTINGS = BootstrapSettings(reps=500, seed=0)
SAMPLES = [make_sample("casa", "english", f"Japan_{i}") for i in range(1, 9)]


def test_mcnemar_exact_matches_hand_computed_binomial_tails() -> None:
    # 1 vs 6 discordant pairs: 2 * P(X <= 1 | n=7, p=1/2) = 2 * (1 + 7) / 128
    assert mcnemar_exact(1, 6) == pytest.approx(16 / 128)
    # 0 vs 5: 2 * (1/2)^5
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(3, 3) == pytest.approx(1.0)
    assert mcnemar_exact(0, 0) == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_majority_over_rounds_and_ties() -> None:
    sample = SAMPLES[0]
    outcomes = majority_outcomes(
        [
            Observation(sample, 1, "awareness", 1),
            Observation(sample, 2, "awareness", 1),
            Observation(sample, 3, "awareness", 0),
            Observation(sample, 1, "education", 1),
            Observation(sample, 2, "education", 0),
        ]
    )
    assert outcomes[(sample.id, "awareness")] == 1
    assert outcomes[(sample.id, "education")] is None


def test_paired_comparison_differences_counts_and_p_value() -> None:
    a_scores = [1, 0, 0, 0, 0, 0, 0, 1]
    b_scores = [0, 1, 1, 1, 1, 1, 1, 1]
    obs_a = [Observation(s, 1, "awareness", x) for s, x in zip(SAMPLES, a_scores, strict=True)]
    obs_b = [Observation(s, 1, "awareness", x) for s, x in zip(SAMPLES, b_scores, strict=True)]
    result = paired_comparison(obs_a, obs_b, SETTINGS)["awareness"]
    assert result.mean_a == pytest.approx(25.0)
    assert result.mean_b == pytest.approx(87.5)
    assert result.difference == pytest.approx(-62.5)
    assert (result.pairs, result.a_only, result.b_only, result.ties_excluded) == (8, 1, 6, 0)
    assert result.p_value == pytest.approx(16 / 128)
    assert result.ci_low is not None and result.ci_high is not None
    assert result.ci_low <= -62.5 <= result.ci_high < 0


def test_identical_runs_differ_by_exactly_zero() -> None:
    obs = [Observation(s, r, "education", (i + r) % 2) for i, s in enumerate(SAMPLES) for r in (1, 2, 3)]
    result = paired_comparison(obs, obs, SETTINGS)["education"]
    assert (result.difference, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert result.p_value == 1.0
    assert paired_comparison(obs, obs, SETTINGS)["awareness"].difference is None


def test_runs_over_different_samples_are_refused() -> None:
    with pytest.raises(
        RunInputError, match=r"different sample sets: 1 only in A \(e\.g\. casa/english/1/Japan_8\)"
    ):
        check_same_samples("A", SAMPLES, "B", SAMPLES[:-1])
    changed = [*SAMPLES[:-1], SAMPLES[-1].model_copy(update={"norm": "another norm"})]
    with pytest.raises(RunInputError, match="different datasets: 1 samples differ"):
        check_same_samples("A", SAMPLES, "B", changed)
    check_same_samples("A", SAMPLES, "B", list(reversed(SAMPLES)))


def test_check_names_both_runs() -> None:
    with pytest.raises(RunInputError, match=r"only in B"):
        check_same_samples("A", SAMPLES[:-1], "B", SAMPLES)
