import csv
import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from crosseval.metrics.aggregate import RateSummary
from crosseval.report.model import Report
from crosseval.report.summary import build_report
from crosseval.report.tables import (
    CSV_COLUMNS,
    fit_label,
    format_stat,
    render_csv,
    render_markdown,
    render_rich,
    terminal_summary,
)
from tests.metrics.fixtures import constant, cross_sample_samples, write_known_run, write_run


@pytest.fixture
def report(tmp_path: Path, cross_sample: Path) -> Report:
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
    stat = RateSummary(mean=50.0, std=None, ci_low=40.0, ci_high=62.0, n=9)
    assert format_stat(stat) == "50.0 ± 11.0"
    assert format_stat(stat, "interval") == "50.0 [40.0, 62.0]"
    assert format_stat(RateSummary(mean=None, std=None, ci_low=None, ci_high=None, n=0)) == "–"
    assert format_stat(None) == "–"
    assert format_stat(RateSummary(mean=12.345, std=None, ci_low=None, ci_high=None, n=3)) == "12.3"


def test_markdown_scores_follow_the_papers_layout(report: Report) -> None:
    markdown = render_markdown(report)
    header, *rows = _table_after(markdown, "## Scores by subset and setting")
    groups = ["CASA En", "CASA Ml", "SafeWorld En", "SafeWorld Ml"]
    dims = ["Awareness", "Education", "Compliance", "Helpfulness"]
    assert header == ["Model", *(f"{g} {d}" for g in groups for d in dims)]
    assert [row[0] for row in rows] == ["openai/model-a", "openai/model-b"]
    casa_en = report.runs[0].scores["casa"]["english"]["awareness"]
    assert casa_en.ci_high is not None and casa_en.ci_low is not None
    half = (casa_en.ci_high - casa_en.ci_low) / 2
    assert rows[0][1] == f"51.3 ± {half:.1f}"  # 154/3 percent: see test_summary
    assert rows[1][3] == "0.0 ± 0.0"  # model-b: violation always 1 -> compliance 0


def test_markdown_shows_overall_unscored_and_breakdowns(report: Report) -> None:
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


def test_markdown_pairs_each_translated_language_with_its_english_items(report: Report) -> None:
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
    pairs = report.runs[0].language_pairs["Japanese"]
    japanese_english = next(r for r in rows if r[:3] == ["openai/model-a", "Japanese", "English"])
    assert japanese_english[3] == format_stat(pairs["english"]["awareness"])
    assert japanese_english[3].startswith("100.0")  # known_scores: awareness is 1 for Japan
    assert japanese_english[-1] == str(pairs["english"]["awareness"].n)
    persian = next(r for r in rows if r[:3] == ["openai/model-a", "Persian", "Translated"])
    assert persian[6] == "–"  # helpfulness of Iran is all parse errors: nothing scored


def test_interval_style(report: Report) -> None:
    markdown = render_markdown(report, style="interval")
    assert "mean [low, high]" in markdown
    assert "| openai/model-b | 100.0 [100.0, 100.0] |" in markdown


def test_repeated_models_are_told_apart_by_run_dir(tmp_path: Path, cross_sample: Path) -> None:
    samples = cross_sample_samples(cross_sample)
    runs = [write_run(tmp_path / name, samples, constant(1)) for name in ("first", "second")]
    markdown = render_markdown(build_report(runs, bootstrap_reps=20))
    assert "| openai/model-a (first) |" in markdown and "| openai/model-a (second) |" in markdown


def test_csv_is_tidy_and_complete(report: Report) -> None:
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
    for run in report.as_dict()["runs"]:
        for group in ("failed_generations", "missing_verdicts", "ignored_verdicts"):
            row = next(
                r for r in rows if r["run_dir"] == str(run["run_dir"]) and r["section"] == "unscored"
                and r["group"] == group
            )  # fmt: skip
            assert row["n"] == str(run["unscored"][group])
        persian = next(
            r for r in rows if r["run_dir"] == run["run_dir"] and r["section"] == "unscored_by_language"
            and r["group"] == "Persian" and r["subgroup"] == "parse_error"
        )  # fmt: skip
        assert persian["n"] == str(run["unscored_by_language"]["Persian"]["parse_error"])


def _printed(tables: Any, width: int) -> list[str]:
    console = Console(record=True, width=width)
    for table in tables:
        console.print(table)
    return console.export_text().splitlines()


def test_rich_tables_print(report: Report) -> None:
    text = "\n".join(_printed(render_rich(report), 220))
    for expected in (
        "CROSS-Eval",
        "CASA · English",
        "SafeWorld · Multilingual",
        "Overall",
        "Not scored",
        "By country",
    ):
        assert expected in text
    assert "openai/model-b" in text and "rate_limit 4" in text
    assert text.count("ompliance = 100 - violation") == 1  # the compliance column explained once


def test_the_terminal_summary_stacks_the_papers_table_within_100_columns(report: Report) -> None:
    lines = _printed(terminal_summary(report), 200)
    assert max(map(len, lines)) <= 100
    blocks = [line.strip() for line in lines if line.strip() in ("CASA · English", "CASA · Multilingual",
              "SafeWorld · English", "SafeWorld · Multilingual", "Overall")]  # fmt: skip
    assert blocks == [
        "CASA · English",
        "CASA · Multilingual",
        "SafeWorld · English",
        "SafeWorld · Multilingual",
        "Overall",
    ]
    casa_en = format_stat(report.runs[0].scores["casa"]["english"]["awareness"])
    first_block = lines[[line.strip() for line in lines].index("CASA · English") + 1]
    assert first_block.startswith("openai/model-a") and casa_en in first_block  # the interval beside the mean
    assert any("Not scored, by language asked in" in line for line in lines)
    persian = next(line for line in lines if "Persian" in line)
    counts = report.runs[0].unscored_by_language["Persian"]
    assert persian.split()[-4:] == [str(counts["parse_error"]), "0", "0", "25.0"]  # helpfulness: 1 in 4 lost
    wide = _printed(terminal_summary(report, style="interval"), 200)
    assert max(map(len, wide)) <= 100


def test_long_model_names_wrap_after_a_slash_never_inside_a_word(tmp_path: Path, cross_sample: Path) -> None:
    samples = cross_sample_samples(cross_sample)[:8]
    long_name = "vllm/Qwen/Qwen2.5-VL-72B-Instruct/with/a/very/long/checkpoint/path/finetuned-on-cross-sft"
    report = build_report(
        [write_run(tmp_path / "run", samples, constant(1), model=long_name)], bootstrap_reps=20
    )
    model = report.runs[0].model
    for style in ("pm", "interval"):
        lines = _printed(terminal_summary(report, style=style), 200)  # type: ignore[arg-type]
        assert max(map(len, lines)) <= 100
        start = next(i for i, line in enumerate(lines) if line.strip() == "CASA · English") + 1
        pieces = [line.split("  ")[0].strip() for line in lines[start:]]
        pieces = pieces[: next(i for i, piece in enumerate(pieces) if not piece or piece == "Overall")]
        assert "".join(pieces) == model, pieces  # the whole name over lines that each end at a `/`
        assert all(piece.endswith("/") for piece in pieces[:-1])


def test_fit_label() -> None:
    assert fit_label("openai/gpt-4o-mini", 30) == "openai/gpt-4o-mini"
    assert fit_label("vllm/Qwen/Qwen2.5-VL-7B-Instruct", 16) == "vllm/Qwen/\nQwen2.5-VL-7B-I…"
    assert fit_label("a (judge x|paper|1)", 9) == "a (judge\nx|paper|\n1)"
    assert fit_label("", 5) == ""


def test_rich_tables_keep_figures_whole_in_an_80_column_terminal(report: Report) -> None:
    """A narrow terminal (or a pipe, which rich treats as 80 columns) squeezes labels, never a figure."""
    tables = render_rich(report, width=80)
    lines = _printed(tables, 80)
    assert max(map(len, lines)) <= 80
    stats = {format_stat(run.overall.get(d)) for run in report.runs for d in ("awareness", "education")}
    assert stats and all(any(stat in line for line in lines) for stat in stats), stats
    unscored = next(t for t in tables if str(t.title) == "Not scored")
    assert len(unscored.columns) == 8  # all columns shown, none cropped away
    assert any(line.rstrip().endswith("verdicts") for line in lines)  # the last header still fits
