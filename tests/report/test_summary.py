import json
import math
from pathlib import Path

import pytest

from crosseval.metrics.runs import RunInputError
from crosseval.report.comparisons import build_agreement, build_comparison
from crosseval.report.model import ScoredRun
from crosseval.report.summary import build_report
from tests.metrics.fixtures import constant, cross_sample_samples, write_known_run, write_run

STAT_KEYS = {"mean", "std", "ci_low", "ci_high", "n", "per_round"}
DIMENSIONS = ["awareness", "education", "compliance", "helpfulness"]


@pytest.fixture
def known_run(tmp_path: Path, cross_sample: Path) -> Path:
    return write_known_run(tmp_path / "run-a", cross_sample_samples(cross_sample))


def test_report_has_the_issue_schema(known_run: Path) -> None:
    report = build_report([known_run], bootstrap_reps=200).as_dict()
    json.dumps(report)  # JSON-ready
    (run,) = report["runs"]
    assert {"run_dir", "model", "judge", "scores", "overall", "unscored", "breakdowns", "usage"} <= set(run)
    assert run["run_dir"] == str(known_run)
    assert run["model"] == "openai/model-a"
    assert run["judge"]["config"] == "paper-judge" and run["judge"]["chosen"] == "only"
    assert set(run["scores"]) == {"casa", "safeworld"}
    for subset in ("casa", "safeworld"):
        assert set(run["scores"][subset]) == {"english", "multilingual"}
        for setting in ("english", "multilingual"):
            cell = run["scores"][subset][setting]
            assert list(cell) == DIMENSIONS
            assert all(set(stat) == STAT_KEYS for stat in cell.values())
    assert list(run["overall"]) == DIMENSIONS
    assert set(run["breakdowns"]) == {"country", "language", "domain", "variant"}
    assert report["dimensions"] == DIMENSIONS
    assert report["bootstrap"] == {"reps": 200, "seed": 0, "confidence": 0.95, "cluster": "base_id"}


def test_report_values_match_hand_computation(known_run: Path) -> None:
    cell = build_report([known_run], bootstrap_reps=200).runs[0].scores["casa"]["english"]
    # casa/english of the shared sample: 13 Japan + 12 Iran records; Japan_2 failed in round 2.
    awareness = cell["awareness"]
    assert awareness.per_round == pytest.approx({1: 52.0, 2: 50.0, 3: 52.0})
    assert awareness.mean == pytest.approx(154 / 3)
    assert awareness.n == 25 + 24 + 25
    compliance = cell["compliance"]  # violation 1 only in round 1
    assert compliance.mean == pytest.approx(200 / 3)
    assert compliance.std == pytest.approx(100 / math.sqrt(3))
    helpfulness = cell["helpfulness"]  # Iran verdicts are parse errors: only the 13 Japan items count
    assert helpfulness.n == 13 + 12 + 13
    assert helpfulness.mean == pytest.approx(100 / 3)
    assert cell["education"].mean == 100.0
    assert cell["education"].ci_low == cell["education"].ci_high == 100.0
    for stat in cell.values():
        assert stat.ci_low is not None and stat.mean is not None and stat.ci_high is not None
        assert stat.ci_low <= stat.mean <= stat.ci_high


def test_unscored_counts_are_reported(known_run: Path) -> None:
    unscored = build_report([known_run], bootstrap_reps=50).as_dict()["runs"][0]["unscored"]
    assert unscored["generations"] == 67 * 3
    assert unscored["failed_generations"] == 4  # Japan_2 in each of the four files, round 2
    assert unscored["failed_generations_by_kind"] == {"rate_limit": 4}
    assert unscored["verdicts"]["parse_error"] == 21 * 3  # 12 + 9 Iran records, helpfulness
    assert unscored["by_dimension"]["helpfulness"]["parse_error"] == 63
    assert unscored["missing_verdicts"] == 0


def test_unscored_verdicts_are_split_by_language(known_run: Path) -> None:
    (run,) = build_report([known_run], bootstrap_reps=20).runs
    by_language = run.unscored_by_language
    assert list(by_language) == ["English", "Arabic", "Hindi", "Japanese", "Persian", "Spanish"]
    # known_scores: Iran's helpfulness is a parse error in every round; Iran is asked in English and Persian.
    assert by_language["English"]["parse_error"] + by_language["Persian"]["parse_error"] == 21 * 3
    assert by_language["Persian"]["parse_error"] > 0
    assert by_language["Japanese"]["parse_error"] == 0
    assert {language: counts["api_error"] for language, counts in by_language.items()} == dict.fromkeys(
        by_language, 0
    )


def test_usage_keeps_model_and_judge_apart(known_run: Path) -> None:
    usage = build_report([known_run], bootstrap_reps=50).runs[0].usage
    assert usage.model.prompt_tokens == 100 * (67 * 3 - 4)
    assert usage.judge.prompt_tokens == 50 * 4 * (67 * 3 - 4)


def test_report_is_seeded(known_run: Path) -> None:
    first = build_report([known_run], bootstrap_reps=100, seed=5)
    assert first == build_report([known_run], bootstrap_reps=100, seed=5)
    other = build_report([known_run], bootstrap_reps=100, seed=6)
    assert first.runs[0].overall != other.runs[0].overall


def test_breakdown_selection_and_values(known_run: Path) -> None:
    run = build_report([known_run], bootstrap_reps=50, breakdown_keys=["country"]).runs[0]
    assert list(run.breakdowns) == ["country"]
    countries = run.breakdowns["country"]
    assert set(countries) == {"Japan", "Iran", "India", "Mexico", "Egypt"}
    assert countries["Japan"]["awareness"].mean == 100.0
    assert countries["Iran"]["awareness"].mean == 0.0


def test_a_run_judged_two_ways_has_a_row_per_judge_config(tmp_path: Path, cross_sample: Path) -> None:
    samples = cross_sample_samples(cross_sample)
    run_dir = write_run(tmp_path / "run", samples, constant(1), judge_config="old", verdict_time="2026-01-01")
    write_run(run_dir, samples, constant(0), judge_config="new", verdict_time="2026-03-01")
    report = build_report([run_dir], bootstrap_reps=20)
    assert [(r.judge.config, r.judge.chosen) for r in report.runs] == [("old", "each"), ("new", "each")]
    assert [r.overall["awareness"].mean for r in report.runs] == [100.0, 0.0]
    assert report.row_labels() == ["openai/model-a (judge old)", "openai/model-a (judge new)"]
    (old,) = build_report([run_dir], judge_config="old", bootstrap_reps=20).runs
    assert (old.judge.chosen, old.overall["awareness"].mean) == ("requested", 100.0)
    (by_prefix,) = build_report([run_dir], judge_config="ne", bootstrap_reps=20).runs
    assert by_prefix.judge.config == "new"


def test_a_judge_config_prefix_must_name_one_config(tmp_path: Path, cross_sample: Path) -> None:
    samples = cross_sample_samples(cross_sample)[:4]
    run_dir = write_run(tmp_path / "run", samples, constant(1), judge_config="judge|paper|1")
    write_run(run_dir, samples, constant(0), judge_config="judge|single|1")
    with pytest.raises(
        RunInputError, match=r"'judge\|' is ambiguous; it begins judge\|paper\|1, judge\|single\|1"
    ):
        build_report([run_dir], judge_config="judge|")
    with pytest.raises(RunInputError, match="no verdicts for judge config 'other'"):
        build_report([run_dir], judge_config="other")


def test_bad_runs_are_clear_errors(tmp_path: Path, cross_sample: Path) -> None:
    samples = cross_sample_samples(cross_sample)
    unjudged = write_run(tmp_path / "unjudged", samples, lambda s, r, d: None)
    with pytest.raises(RunInputError, match="no judge verdicts"):
        build_report([unjudged])
    with pytest.raises(RunInputError, match="no run directories"):
        build_report([])


def test_comparison_of_two_runs(tmp_path: Path, cross_sample: Path) -> None:
    samples = cross_sample_samples(cross_sample)
    a = write_run(tmp_path / "a", samples, constant(1), model="openai/a")
    b = write_run(tmp_path / "b", samples, constant(0), model="openai/b")
    comparison = build_comparison(a, b, bootstrap_reps=100)
    awareness = comparison.dimensions["awareness"]
    assert awareness.difference == 100.0
    assert (awareness.a_only, awareness.b_only, awareness.pairs) == (67, 0, 67)
    assert awareness.p_value == pytest.approx(2 * 0.5**67)
    assert comparison.dimensions["compliance"].difference == -100.0
    assert comparison.judged_alike
    smaller = write_run(tmp_path / "c", samples[:-1], constant(0))
    with pytest.raises(RunInputError, match="different sample sets"):
        build_comparison(a, smaller)


def test_agreement_between_two_judge_configs_of_one_run(tmp_path: Path, cross_sample: Path) -> None:
    samples = cross_sample_samples(cross_sample)
    run_dir = write_run(
        tmp_path / "run", samples, constant(1), judge_config="paper", verdict_time="2026-01-01"
    )
    write_run(
        run_dir,
        samples,
        lambda s, r, d: int(s.country == "Japan"),
        judge_config="single",
        verdict_time="2026-02-01",
    )
    result = build_agreement(run_dir)
    assert result.a.judge.config == "paper"
    assert isinstance(result.b, ScoredRun) and result.b.judge.config == "single"
    awareness = result.dimensions["awareness"]
    japan = sum(1 for s in samples if s.country == "Japan")
    assert awareness.n == 67 * 3
    assert awareness.confusion[1][1] == japan * 3
    assert awareness.agreement == pytest.approx(100 * japan / 67)
    with pytest.raises(RunInputError, match="different judge configs"):
        build_agreement(run_dir, judge_configs=["paper", "paper"])
    with pytest.raises(RunInputError, match="not both"):
        build_agreement(run_dir, run_dir, labels=tmp_path / "x.csv")


def test_language_pairs_compare_the_same_items_in_english_and_in_translation(
    tmp_path: Path, cross_sample: Path
) -> None:
    english_only_right = write_run(
        tmp_path / "run", cross_sample_samples(cross_sample), lambda s, r, d: int(s.setting == "english")
    )
    run = build_report([english_only_right], bootstrap_reps=20).as_dict()["runs"][0]
    pairs = run["language_pairs"]
    assert list(pairs) == ["Arabic", "Hindi", "Japanese", "Persian", "Spanish"]
    # Hindi: only safeworld India_1 is translated, so India_2 and India_3 stay out of the English side.
    assert pairs["Hindi"]["english"]["awareness"]["n"] == 3
    assert pairs["Hindi"]["english"]["awareness"]["mean"] == 100.0
    assert pairs["Hindi"]["multilingual"]["awareness"]["mean"] == 0.0
    # Japanese: casa Japan_1..12 (no Japan_8) and safeworld Japan_1..4 on both sides, three rounds.
    assert pairs["Japanese"]["english"]["education"]["n"] == 15 * 3
    assert pairs["Japanese"]["multilingual"]["education"]["n"] == 15 * 3
    # compliance = 1 - violation: the English answers "violate", the translated ones do not.
    assert pairs["Persian"]["english"]["compliance"]["mean"] == 0.0
    assert pairs["Persian"]["multilingual"]["compliance"]["mean"] == 100.0
    # The existing language breakdown is kept as it was: every English-setting sample under "English".
    assert run["breakdowns"]["language"]["English"]["awareness"]["n"] == (25 + 13) * 3


def test_compare_pairs_only_results_judged_the_same_way(tmp_path: Path, cross_sample: Path) -> None:
    samples = cross_sample_samples(cross_sample)
    a = write_run(tmp_path / "a", samples, constant(1), model="openai/a", judge_config="paper")
    b = write_run(tmp_path / "b", samples, constant(0), model="openai/b", judge_config="single")
    with pytest.raises(RunInputError) as refused:
        build_comparison(a, b, bootstrap_reps=20)
    assert f"{a} has paper; {b} has single" in str(refused.value)
    assert "no judge config in common" in str(refused.value)

    write_run(b, samples, constant(0), model="openai/b", judge_config="paper")
    comparison = build_comparison(a, b, bootstrap_reps=20)
    assert (comparison.run_a.judge.chosen, comparison.run_b.judge.chosen) == ("only", "shared")
    assert comparison.run_b.judge.config == "paper" and comparison.judged_alike

    write_run(a, samples, constant(1), model="openai/a", judge_config="single")
    with pytest.raises(RunInputError, match=r"share 2 judge configs \(paper, single\); choose one"):
        build_comparison(a, b, bootstrap_reps=20)
    chosen = build_comparison(a, b, judge_configs=["sin"], bootstrap_reps=20)
    assert chosen.run_a.judge.config == chosen.run_b.judge.config == "single"
    mixed = build_comparison(a, b, judge_configs=["paper", "single"], bootstrap_reps=20)
    assert not mixed.judged_alike  # named one per run: allowed, and the writers say so


def test_agreement_of_two_runs_needs_a_judge_config_both_have(tmp_path: Path, cross_sample: Path) -> None:
    samples = cross_sample_samples(cross_sample)[:6]
    a = write_run(tmp_path / "a", samples, constant(1), judge_config="paper")
    b = write_run(tmp_path / "b", samples, constant(1), judge_config="single")
    with pytest.raises(RunInputError, match=f"no judge config in common.*{a} has paper; {b} has single"):
        build_agreement(a, b)
    write_run(b, samples, constant(0), judge_config="paper")
    result = build_agreement(a, b)
    assert isinstance(result.b, ScoredRun) and result.a.judge.config == result.b.judge.config == "paper"
    assert result.dimensions["awareness"].agreement == 0.0
