from pathlib import Path

import pytest

from crosseval.metrics.agreement import agreement, check_same_responses, cohen_kappa, judge_labels
from crosseval.metrics.runs import RunInputError, load_run
from tests.metrics.fixtures import make_sample, write_run

A = [1, 1, 0, 0, 1, 0, 1, 1]
B = [1, 0, 0, 0, 1, 1, 1, 1]


def test_kappa_matches_the_hand_computed_value() -> None:
    # p_o = 6/8; p_e = (5/8)^2 + (3/8)^2 = 34/64; kappa = (48/64 - 34/64) / (30/64) = 7/15
    assert cohen_kappa(A, B) == pytest.approx(7 / 15)


def test_kappa_is_none_when_undefined() -> None:
    assert cohen_kappa([1, 1], [1, 1]) is None
    assert cohen_kappa([], []) is None
    with pytest.raises(ValueError):
        cohen_kappa([1], [1, 0])


def test_agreement_counts_confusion_and_one_sided_labels() -> None:
    labels_a = {(f"s{i}", 1, "awareness"): x for i, x in enumerate(A)}
    labels_b = {(f"s{i}", 1, "awareness"): x for i, x in enumerate(B)}
    labels_a[("extra", 1, "awareness")] = 1
    result = agreement(labels_a, labels_b)["awareness"]
    assert result.n == 8
    assert result.agreement == pytest.approx(75.0)
    assert result.kappa == pytest.approx(7 / 15)
    assert result.confusion == ((2, 1), (1, 4))
    assert (result.only_a, result.only_b) == (1, 0)
    assert result.as_dict()["confusion"] == {"a0_b0": 2, "a0_b1": 1, "a1_b0": 1, "a1_b1": 4}
    assert agreement(labels_a, labels_b)["education"].agreement is None


def test_judge_labels_keep_only_ok_verdicts(tmp_path: Path) -> None:
    samples = [make_sample("casa", "english", "Japan_1"), make_sample("casa", "english", "Japan_2")]

    def score(sample, round_, dimension):
        return "parse_error" if sample.index == "Japan_2" and dimension == "violation" else 1

    run = load_run(write_run(tmp_path / "run", samples, score, rounds=(1,)))
    labels = judge_labels(run, "paper-judge")
    assert len(labels) == 7
    assert labels[("casa/english/1/Japan_1", 1, "violation")] == 1  # as judged, not flipped
    assert ("casa/english/1/Japan_2", 1, "violation") not in labels


def test_runs_with_different_responses_are_refused(tmp_path: Path) -> None:
    samples = [make_sample("casa", "english", "Japan_1")]
    a = load_run(write_run(tmp_path / "a", samples, lambda s, r, d: 1, model="openai/a"))
    b = load_run(write_run(tmp_path / "b", samples, lambda s, r, d: 1, model="openai/b"))
    with pytest.raises(RunInputError, match="different responses for 3"):
        check_same_responses(a, b)
    check_same_responses(a, a)
