import csv
import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from crosseval.report.summary import build_report
from crosseval.report.tables import CSV_COLUMNS, format_stat, render_csv, render_markdown, render_rich
from tests.metrics.fixtures import constant, cross_sample_samples, write_known_run, write_run


@pytest.fixture
def report(tmp_path: Path, cross_sample: Path) -> dict[str, Any]:
    samples = cross_sample_samples(cross_sample)
    a = write_known_run(tmp_path / "run-a", samples)
    b = write_run(tmp_path / "run-b", samples, constant(1), model="openai/model-b")
    return build_report([a, b], bootstrap_reps=200)


def _table_after(markdown: str, heading: str) -> list[list[str]]:
    """The rows (header first, separator dropped) of the Markdown table under `heading`."""
    lines = markdown.split(heading, 1)[1].strip().splitlines()
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return [rows[0], *rows[2:]]


def test_format_stat() -> None:
    stat = {"mean": 50.0, "ci_low": 40.0, "ci_high": 62.0, "n": 9}
    assert format_stat(stat) == "50.0 ± 11.0"
    assert format_stat(stat, "interval") == "50.0 [40.0, 62.0]"
    assert format_stat({"mean": None, "n": 0}) == "–"
    assert format_stat({"mean": 12.345, "ci_low": None, "ci_high": None}) == "12.3"


def test_markdown_scores_follow_the_papers_layout(report: dict[str, Any]) -> None:
    markdown = render_markdown(report)
    header, *rows = _table_after(markdown, "## Scores by subset and setting")
    groups = ["CASA En", "CASA Ml", "SafeWorld En", "SafeWorld Ml"]
    dims = ["Awareness", "Education", "Compliance", "Helpfulness"]
    assert header == ["Model", *(f"{g} {d}" for g in groups for d in dims)]
    assert [row[0] for row in rows] == ["openai/model-a", "openai/model-b"]
    casa_en = report["runs"][0]["scores"]["casa"]["english"]["awareness"]
    half = (casa_en["ci_high"] - casa_en["ci_low"]) / 2
    assert rows[0][1] == f"51.3 ± {half:.1f}"  # 154/3 percent: see test_summary
    assert rows[1][3] == "0.0 ± 0.0"  # model-b: violation always 1 -> compliance 0


def test_markdown_shows_overall_unscored_and_breakdowns(report: dict[str, Any]) -> None:
    markdown = render_markdown(report)
    assert "judge `paper-judge` (openai/judge-1, protocol paper; the run's only judge config)" in markdown
    overall_header, *_ = _table_after(markdown, "## Overall")
    assert overall_header == [
        "Model",
        "Awareness",
        "Education",
        "Compliance",
        "Helpfulness",
        "Scored verdicts",
    ]
    header, first, second = _table_after(markdown, "## Not scored")
    assert header[:6] == ["Model", "Responses", "Failed generations", "parse_error", "api_error", "refused"]
    assert first[:6] == ["openai/model-a", "201", "4 (rate_limit 4)", "63", "0", "0"]
    assert second[:4] == ["openai/model-b", "201", "0", "0"]
    for heading in ("## By country", "## By language", "## By domain", "## By paraphrase variant (english)"):
        assert heading in markdown
    country_rows = _table_after(markdown, "## By country")[1:]
    japan = next(r for r in country_rows if r[:2] == ["openai/model-a", "Japan"])
    assert japan[2].startswith("100.0")


def test_markdown_pairs_each_translated_language_with_its_english_items(report: dict[str, Any]) -> None:
    markdown = render_markdown(report)
    header, *rows = _table_after(markdown, "## English vs translated query, by language")
    assert header == [
        "Model",
        "Language",
        "Query",
        "Awareness",
        "Education",
        "Compliance",
        "Helpfulness",
        "n",
    ]
    languages = ["Arabic", "Hindi", "Japanese", "Persian", "Spanish"]
    assert [r[:3] for r in rows[:10]] == [
        ["openai/model-a", language, query] for language in languages for query in ("English", "Translated")
    ]
    pairs = report["runs"][0]["language_pairs"]["Japanese"]
    japanese_english = next(r for r in rows if r[:3] == ["openai/model-a", "Japanese", "English"])
    assert japanese_english[3] == format_stat(pairs["english"]["awareness"])
    assert japanese_english[3].startswith("100.0")  # known_scores: awareness is 1 for Japan
    assert japanese_english[-1] == str(pairs["english"]["awareness"]["n"])
    persian = next(r for r in rows if r[:3] == ["openai/model-a", "Persian", "Translated"])
    assert persian[6] == "–"  # helpfulness of Iran is all parse errors: nothing scored


def test_interval_style(report: dict[str, Any]) -> None:
    markdown = render_markdown(report, style="interval")
    assert "mean [low, high]" in markdown
    assert "| openai/model-b | 100.0 [100.0, 100.0] |" in markdown


def test_repeated_models_are_told_apart_by_run_dir(tmp_path: Path, cross_sample: Path) -> None:
    samples = cross_sample_samples(cross_sample)
    runs = [write_run(tmp_path / name, samples, constant(1)) for name in ("first", "second")]
    markdown = render_markdown(build_report(runs, bootstrap_reps=20))
    assert "| openai/model-a (first) |" in markdown and "| openai/model-a (second) |" in markdown


def test_csv_is_tidy_and_complete(report: dict[str, Any]) -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert tuple(rows[0]) == CSV_COLUMNS
    cell = next(
        r
        for r in rows
        if r["model"] == "openai/model-a" and r["section"] == "scores" and r["group"] == "casa"
        and r["subgroup"] == "english" and r["dimension"] == "awareness"
    )  # fmt: skip
    assert float(cell["mean"]) == pytest.approx(154 / 3) and cell["n"] == "74"
    overall = [r for r in rows if r["section"] == "overall"]
    assert len(overall) == 2 * 4
    parse_errors = [
        r for r in rows if r["section"] == "unscored" and r["group"] == "parse_error" and r["n"] != "0"
    ]
    assert [(r["model"], r["dimension"], r["n"]) for r in parse_errors] == [
        ("openai/model-a", "helpfulness", "63")
    ]
    breakdown = {r["group"] for r in rows if r["section"] == "breakdown"}
    assert breakdown == {"country", "language", "domain", "variant"}
    for run in report["runs"]:
        for group in ("failed_generations", "missing_verdicts", "ignored_verdicts"):
            row = next(
                r for r in rows if r["run_dir"] == str(run["run_dir"]) and r["section"] == "unscored"
                and r["group"] == group
            )  # fmt: skip
            assert row["n"] == str(run["unscored"][group])


def test_rich_tables_print(report: dict[str, Any]) -> None:
    console = Console(record=True, width=220)
    for table in render_rich(report):
        console.print(table)
    text = console.export_text()
    for expected in (
        "CROSS-Eval: CASA En",
        "CROSS-Eval: SafeWorld Ml",
        "Overall",
        "Not scored",
        "By country",
    ):
        assert expected in text
    assert "openai/model-b" in text and "rate_limit 4" in text


def test_rich_tables_keep_figures_whole_in_an_80_column_terminal(report: dict[str, Any]) -> None:
    """A narrow terminal (or a pipe, which rich treats as 80 columns) squeezes labels, never a figure."""
    console = Console(record=True, width=80)
    tables = render_rich(report)
    for table in tables:
        console.print(table)
    lines = console.export_text().splitlines()
    assert max(map(len, lines)) <= 80
    stats = {
        format_stat(run[part].get(d))
        for run in report["runs"]
        for part in ("overall",)
        for d in ("awareness", "education", "compliance", "helpfulness")
    }
    assert stats and all(any(stat in line for line in lines) for stat in stats), stats
    unscored = next(t for t in tables if t.title == "Not scored")
    assert len(unscored.columns) == 8  # all columns shown, none cropped away
    assert any(line.rstrip().endswith("verdicts") for line in lines)  # the last header still fits
