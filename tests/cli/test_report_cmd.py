import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crosseval.cli import app
from crosseval.report.model import Report
from tests.helpers.imports import modules_after
from tests.metrics.fixtures import constant, cross_sample_samples, write_known_run, write_run

runner = CliRunner()


@pytest.fixture
def runs(tmp_path: Path, cross_sample: Path) -> tuple[Path, Path]:
    samples = cross_sample_samples(cross_sample)
    a = write_known_run(tmp_path / "run-a", samples)
    b = write_run(tmp_path / "run-b", samples, constant(1), model="openai/model-b")
    return a, b


def _invoke(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def test_report_json(runs: tuple[Path, Path]) -> None:
    result = _invoke("report", *runs, "--json", "--bootstrap-reps", "100")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [r["model"] for r in report["runs"]] == ["openai/model-a", "openai/model-b"]
    assert report["runs"][0]["scores"]["casa"]["english"]["awareness"]["mean"] == pytest.approx(154 / 3)
    assert report["runs"][0]["unscored"]["failed_generations"] == 4


def test_report_markdown_csv_and_terminal(runs: tuple[Path, Path]) -> None:
    markdown = _invoke("report", runs[0], "--markdown", "--bootstrap-reps", "50", "--by", "country")
    assert markdown.exit_code == 0, markdown.output
    assert markdown.stdout.startswith("# CROSS-Eval results")
    assert "## By country" in markdown.stdout and "## By language" not in markdown.stdout
    as_csv = _invoke("report", runs[0], "--csv", "--bootstrap-reps", "50")
    assert as_csv.exit_code == 0 and as_csv.stdout.startswith("run_dir,model,judge_config,section")
    terminal = _invoke("report", *runs, "--bootstrap-reps", "50", "--interval")
    assert terminal.exit_code == 0, terminal.output
    assert "judge `paper-judge`" in terminal.stdout and "Not scored" in terminal.stdout


def test_report_html_hands_the_report_to_the_html_writer(
    runs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[list[Path], Path, Report]] = []
    monkeypatch.setattr(
        "crosseval.report.html.write_html_report",
        lambda run_dirs, out_path, report: calls.append((list(run_dirs), out_path, report)),
    )
    out = tmp_path / "report.html"
    result = _invoke("report", runs[0], "--html", out, "--json", "--bootstrap-reps", "20")
    assert result.exit_code == 0, result.output
    ((run_dirs, out_path, report),) = calls
    assert run_dirs == [runs[0]] and out_path == out
    assert report.as_dict() == json.loads(result.stdout)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--json", "--csv"], "choose one of --json, --csv, --markdown"),
        (["--by", "country,planet"], "unknown breakdown 'planet'"),
        (["--judge-config", "nope"], "no verdicts for judge config 'nope'; available: paper-judge"),
    ],
)
def test_report_bad_options(runs: tuple[Path, Path], extra: list[str], message: str) -> None:
    result = _invoke("report", runs[0], *extra)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr


def test_report_on_bad_runs(tmp_path: Path, cross_sample: Path) -> None:
    result = _invoke("report", tmp_path)
    assert result.exit_code == 1 and "not a run directory" in result.stderr
    unjudged = write_run(tmp_path / "unjudged", cross_sample_samples(cross_sample), lambda s, r, d: None)
    result = _invoke("report", unjudged)
    assert result.exit_code == 1
    assert f"{unjudged}: the run has no judge verdicts; run `crosseval judge" in result.stderr


def test_compare(runs: tuple[Path, Path]) -> None:
    result = _invoke("compare", *runs, "--json", "--bootstrap-reps", "50")
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.stdout)
    assert comparison["dimensions"]["education"]["difference"] == 0.0
    assert comparison["dimensions"]["compliance"]["difference"] == pytest.approx(200 / 3)
    terminal = _invoke("compare", *runs, "--bootstrap-reps", "50")
    assert terminal.exit_code == 0 and "McNemar" in terminal.stdout
    markdown = _invoke("compare", *runs, "--markdown", "--bootstrap-reps", "50")
    assert "| Compliance |" in markdown.stdout and "exact McNemar" in markdown.stdout


def test_compare_refuses_different_datasets(
    runs: tuple[Path, Path], tmp_path: Path, cross_sample: Path
) -> None:
    samples = cross_sample_samples(cross_sample)
    other = write_run(tmp_path / "other", samples[:10], constant(1))
    result = _invoke("compare", runs[0], other)
    assert result.exit_code == 1
    assert "cover different sample sets: 57 only in" in result.stderr


def test_agreement_with_human_labels(runs: tuple[Path, Path], tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "sample_id,round,dimension,label\n"
        "casa/english/1/Japan_1,1,awareness,1\n"
        "casa/english/1/Iran_5,1,awareness,1\n"
        "casa/english/1/Iran_5,1,violation,1\n"
    )
    result = _invoke("agreement", runs[0], "--labels", labels, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["b"] == {"source": "labels", "path": str(labels), "labels": 3}
    awareness = data["dimensions"]["awareness"]
    assert (awareness["n"], awareness["agreement"]) == (2, 50.0)
    assert awareness["confusion"] == {"a0_b0": 0, "a0_b1": 1, "a1_b0": 0, "a1_b1": 1}
    assert data["dimensions"]["violation"]["agreement"] == 100.0
    terminal = _invoke("agreement", runs[0], "--labels", labels)
    assert terminal.exit_code == 0
    awareness_rows = [line for line in terminal.stdout.splitlines() if line.startswith("awareness ")]
    assert len(awareness_rows) == 1 and "50.0" in awareness_rows[0], terminal.stdout


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("casa/english/1/Atlantis_1,1,awareness,1", "line 2: unknown sample_id 'casa/english/1/Atlantis_1'"),
        ("casa/english/1/Japan_1,1,awareness,0.5", "line 2: label '0.5' must be 0 or 1"),
    ],
)
def test_agreement_rejects_bad_labels(
    runs: tuple[Path, Path], tmp_path: Path, row: str, message: str
) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(f"sample_id,round,dimension,label\n{row}\n")
    result = _invoke("agreement", runs[0], "--labels", labels)
    assert result.exit_code == 1
    assert f"error: {labels} {message}" in result.stderr


def test_agreement_needs_two_judges_over_the_same_responses(runs: tuple[Path, Path]) -> None:
    one_config = _invoke("agreement", runs[0])
    assert one_config.exit_code == 1 and "name the two judge configs" in one_config.stderr
    different = _invoke("agreement", *runs)
    assert different.exit_code == 1 and "different responses" in different.stderr


@pytest.fixture
def judged_twice(tmp_path: Path, cross_sample: Path) -> Path:
    samples = cross_sample_samples(cross_sample)
    run_dir = write_run(tmp_path / "twice", samples, constant(1), judge_config="judge|paper|1")
    return write_run(run_dir, samples, constant(0), judge_config="judge|single|1", verdict_time="2026-02-01")


def test_a_run_judged_twice_is_reported_as_a_row_per_judge_config(judged_twice: Path) -> None:
    result = _invoke("report", judged_twice, "--json", "--bootstrap-reps", "20")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["runs"]
    assert [(r["judge"]["config"], r["judge"]["chosen"]) for r in rows] == [
        ("judge|paper|1", "each"),
        ("judge|single|1", "each"),
    ]
    terminal = _invoke("report", judged_twice, "--bootstrap-reps", "20")
    assert terminal.exit_code == 0, terminal.output
    assert "one of the run's 2 judge configs, each on its own row" in terminal.stdout
    overall = [line.split() for line in terminal.stdout.split("Overall", 1)[1].splitlines()[1:5]]
    assert [line[:3] for line in overall] == [
        ["openai/model-a", "(judge", "100.0"],
        ["judge|paper|1)"],
        ["openai/model-a", "(judge", "0.0"],
        ["judge|single|1)"],
    ], terminal.stdout


def test_judge_config_by_prefix(judged_twice: Path) -> None:
    chosen = _invoke("report", judged_twice, "--json", "--bootstrap-reps", "20", "--judge-config", "judge|s")
    assert chosen.exit_code == 0, chosen.output
    assert [r["judge"]["config"] for r in json.loads(chosen.stdout)["runs"]] == ["judge|single|1"]
    ambiguous = _invoke("report", judged_twice, "--judge-config", "judge|")
    assert ambiguous.exit_code == 1
    assert "judge config 'judge|' is ambiguous; it begins judge|paper|1, judge|single|1" in ambiguous.stderr
    assert "hint: give more of the judge config's id" in ambiguous.stderr


def test_compare_refuses_runs_judged_differently(
    judged_twice: Path, tmp_path: Path, cross_sample: Path
) -> None:
    other = write_run(
        tmp_path / "other", cross_sample_samples(cross_sample), constant(1), judge_config="x|paper|2"
    )
    result = _invoke("compare", judged_twice, other, "--bootstrap-reps", "20")
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "no judge config in common" in message
    assert f"{judged_twice} has judge|paper|1, judge|single|1; {other} has x|paper|2" in message
    several = _invoke("compare", judged_twice, judged_twice, "--bootstrap-reps", "20")
    assert several.exit_code == 1 and "choose one with --judge-config" in " ".join(several.stderr.split())
    mixed = _invoke("compare", judged_twice, other, "--judge-config", "judge|p", "--judge-config", "x")
    assert mixed.exit_code == 0, mixed.output
    assert "different judge configs" in " ".join(mixed.stdout.split())


def test_report_loads_neither_scipy_nor_scikit_learn(runs: tuple[Path, Path]) -> None:
    loaded = modules_after(
        "from typer.testing import CliRunner\n"
        "from crosseval.cli import app\n"
        f"result = CliRunner().invoke(app, ['report', {str(runs[0])!r}, '--json', '--bootstrap-reps', '10'])\n"
        "assert result.exit_code == 0, result.output"
    )
    assert [m for m in loaded if m.split(".")[0] in ("scipy", "sklearn")] == []
