"""The typed report (`crosseval.report.model`) rendered as Markdown, CSV or terminal tables.

Markdown follows the paper: one row per model (per judge configuration, when a run was judged several
ways), and for each of CASA / SafeWorld x English / Multilingual the four dimensions (Awareness,
Education, Compliance, Helpfulness, in percent); then the overall row, what was not scored (overall
and by language), the breakdowns, and the English-vs-translated pairs per language.

The terminal shows the same figures in tables at most 100 columns wide (`TERMINAL_WIDTH`): the
paper's table stacked by subset and setting with each interval beside its mean, and label columns
wrapped only after a `/` or `|` (judge config ids) or at a space, so a model name is never broken
inside a word (a word longer than its column is shortened with `…`). `terminal_summary` is what
`crosseval run` ends with; `render_rich` adds the breakdowns for `crosseval report`.
"""

from __future__ import annotations

import csv
import io
import re
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich import box
from rich.table import Table
from rich.text import Text

from crosseval.data.records import SETTINGS, SUBSETS
from crosseval.metrics.aggregate import RateSummary
from crosseval.metrics.breakdowns import BreakdownKey
from crosseval.metrics.runs import JudgeInfo
from crosseval.report.model import (
    COMPARISON_METHOD,
    Agreement,
    Comparison,
    DimensionStats,
    LabelsSource,
    Report,
    RunReport,
    ScoredRun,
)
from crosseval.vocabulary import COMPLIANCE_RULE, DIMENSION_TITLES, REPORTED_DIMENSIONS, UNSCORED_STATUSES

CellStyle = Literal["pm", "interval"]
"""`pm`: "mean ± half-width of the interval"; `interval`: "mean [low, high]"."""

SUBSET_TITLES: dict[str, str] = {"casa": "CASA", "safeworld": "SafeWorld"}
SETTING_TITLES: dict[str, str] = {"english": "En", "multilingual": "Ml"}
"""Short setting names, for the columns of the paper's wide table."""
SETTING_NAMES: dict[str, str] = {"english": "English", "multilingual": "Multilingual"}
BREAKDOWN_TITLES: dict[str, str] = {
    "country": "Country",
    "language": "Language",
    "domain": "Domain",
    "variant": "Paraphrase variant (English)",
}
LANGUAGE_PAIRS_TITLE = "English vs translated query, by language"
PAIR_QUERY_TITLES: dict[str, str] = {"english": "English", "multilingual": "Translated"}
"""How each side of a language pair was asked: the English query, or its translation."""
UNSCORED_BY_LANGUAGE_TITLE = "Not scored, by language asked in"
NO_SCORE = "–"
COMPLIANCE_NOTE = COMPLIANCE_RULE[0].upper() + COMPLIANCE_RULE[1:]
"""The compliance column explained, once per report."""
TERMINAL_WIDTH = 100
"""The widest a terminal table gets, whatever the terminal's width."""

CSV_COLUMNS: tuple[str, ...] = (
    "run_dir",
    "model",
    "judge_config",
    "section",
    "group",
    "subgroup",
    "dimension",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "n",
)


def format_stat(stat: RateSummary | None, style: CellStyle = "pm", digits: int = 1) -> str:
    """One cell: `61.8 ± 4.2`, `61.8 [57.6, 66.0]`, or `–` when nothing was scored."""
    if stat is None or stat.mean is None:
        return NO_SCORE
    if stat.ci_low is None or stat.ci_high is None:
        return f"{stat.mean:.{digits}f}"
    if style == "interval":
        return f"{stat.mean:.{digits}f} [{stat.ci_low:.{digits}f}, {stat.ci_high:.{digits}f}]"
    return f"{stat.mean:.{digits}f} ± {(stat.ci_high - stat.ci_low) / 2:.{digits}f}"


def _labelled(report: Report) -> list[tuple[str, RunReport]]:
    return list(zip(report.row_labels(), report.runs, strict=True))


def _cells(report: Report) -> list[tuple[str, str]]:
    """The (subset, setting) columns present in any run, in the paper's order."""
    present = {(subset, setting) for run in report.runs for subset, s in run.scores.items() for setting in s}
    return [(subset, setting) for subset in SUBSETS for setting in SETTINGS if (subset, setting) in present]


def _interval_note(report: Report, style: CellStyle) -> str:
    boot = report.bootstrap
    shape = "mean ± half-width of" if style == "pm" else "mean [low, high] of"
    return (
        f"Rates in percent, mean over rounds; {shape} the {round(100 * boot.confidence)}% interval from a "
        f"bootstrap over base items ({boot.reps} replicates, seed {boot.seed}). {NO_SCORE} = no scored "
        f"verdict. {COMPLIANCE_NOTE}."
    )


def _choice_note(judge: JudgeInfo) -> str:
    """Why these verdicts: `judge.chosen` in words."""
    return {
        "only": "the run's only judge config",
        "requested": "as requested",
        "each": f"one of the run's {len(judge.available)} judge configs, each on its own row",
        "shared": "the judge config both runs share",
    }[judge.chosen]


def _judge_line(label: str, run: RunReport) -> str:
    judge = run.judge
    details = f"{judge.model}, protocol {judge.protocol}; {_choice_note(judge)}"
    return f"{label} ({run.run_dir}): judge `{judge.config}` ({details})"


def judge_lines(report: Report) -> list[str]:
    """One line per row saying which judge configuration was scored and why that one."""
    return [_judge_line(label, run) for label, run in _labelled(report)]


# rows shared by every format --------------------------------------------------------------------


TableRows = tuple[list[str], list[list[str]]]
"""A header and its rows, as text."""


def _dimension_titles() -> list[str]:
    return [DIMENSION_TITLES[d] for d in REPORTED_DIMENSIONS]


def _group_row(labels: Sequence[str], cell: DimensionStats | None, style: CellStyle) -> list[str]:
    """Label cells, one cell per dimension, and the largest number of scores behind any of them."""
    if cell is None:
        return [*labels, *("" for _ in REPORTED_DIMENSIONS), ""]
    n = max((cell[d].n for d in REPORTED_DIMENSIONS if d in cell), default=0)
    return [*labels, *(format_stat(cell.get(d), style) for d in REPORTED_DIMENSIONS), str(n)]


def _score_rows(report: Report, style: CellStyle) -> TableRows:
    """The paper's table: a row per model, the four dimensions of each subset and setting side by side."""
    cells = _cells(report)
    header = ["Model"] + [
        f"{SUBSET_TITLES[subset]} {SETTING_TITLES[setting]} {title}"
        for subset, setting in cells
        for title in _dimension_titles()
    ]
    rows = []
    for label, run in _labelled(report):
        row = [label]
        for subset, setting in cells:
            cell = run.scores.get(subset, {}).get(setting)
            row += [format_stat(cell.get(d), style) if cell else "" for d in REPORTED_DIMENSIONS]
        rows.append(row)
    return header, rows


def _overall_rows(report: Report, style: CellStyle) -> TableRows:
    header = ["Model", *_dimension_titles(), "Scored verdicts"]
    rows = [
        [
            label,
            *(format_stat(run.overall.get(d), style) for d in REPORTED_DIMENSIONS),
            str(sum(stat.n for stat in run.overall.values())),
        ]
        for label, run in _labelled(report)
    ]
    return header, rows


def _failed_generations(run: RunReport) -> str:
    unscored = run.unscored
    kinds = ", ".join(f"{k} {v}" for k, v in unscored.failed_generations_by_kind.items())
    return f"{unscored.failed_generations} ({kinds})" if kinds else str(unscored.failed_generations)


def _unscored_rows(report: Report) -> TableRows:
    header = [
        "Model",
        "Responses",
        "Failed generations",
        *UNSCORED_STATUSES,
        "Missing verdicts",
        "Ignored verdicts",
    ]
    rows = [
        [
            label,
            str(run.unscored.generations),
            _failed_generations(run),
            *(str(run.unscored.verdicts_by_status.get(s, 0)) for s in UNSCORED_STATUSES),
            str(run.unscored.missing_verdicts),
            str(run.unscored.ignored_verdicts),
        ]
        for label, run in _labelled(report)
    ]
    return header, rows


def unscored_language_rows(report: Report) -> TableRows:
    """Per row and language with any unscored verdict: the counts, and the share of its verdicts lost."""
    header = ["Model", "Language", "Verdicts", *UNSCORED_STATUSES, "Unscored %"]
    rows = []
    for label, run in _labelled(report):
        for language, counts in run.unscored_by_language.items():
            lost = sum(counts.get(s, 0) for s in UNSCORED_STATUSES)
            if lost:
                total = sum(counts.values())
                rows.append(
                    [
                        label,
                        language,
                        str(total),
                        *(str(counts.get(s, 0)) for s in UNSCORED_STATUSES),
                        f"{100 * lost / total:.1f}",
                    ]
                )
    return header, rows


def _breakdown_rows(report: Report, key: BreakdownKey, style: CellStyle) -> TableRows:
    header = ["Model", BREAKDOWN_TITLES.get(key, key), *_dimension_titles(), "n"]
    rows = [
        _group_row([label, group], cell, style)
        for label, run in _labelled(report)
        for group, cell in run.breakdowns.get(key, {}).items()
    ]
    return header, rows


def _language_pair_rows(report: Report, style: CellStyle) -> TableRows:
    """Per run and translated language, the same base items asked in English and in translation."""
    header = ["Model", "Language", "Query", *_dimension_titles(), "n"]
    rows = [
        _group_row([label, language, PAIR_QUERY_TITLES.get(setting, setting)], cell, style)
        for label, run in _labelled(report)
        for language, by_setting in run.language_pairs.items()
        for setting, cell in by_setting.items()
    ]
    return header, rows


def _has_language_pairs(report: Report) -> bool:
    return any(run.language_pairs for run in report.runs)


# markdown -------------------------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, text_columns: int = 1) -> str:
    """A Markdown table; the first `text_columns` columns are left-aligned, numbers right-aligned."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    aligns = ["---"] * text_columns + ["---:"] * (len(header) - text_columns)
    return "\n".join([line(header), "| " + " | ".join(aligns) + " |", *(line(r) for r in rows)])


def render_markdown(report: Report, *, style: CellStyle = "pm") -> str:
    """The whole report as Markdown: scores in the paper's layout, overall, unscored, breakdowns, pairs."""
    parts = ["# CROSS-Eval results", ""]
    parts += [f"- {line}" for line in judge_lines(report)]
    parts += ["", _interval_note(report, style), "", "## Scores by subset and setting", ""]
    parts += [
        _md_table(*_score_rows(report, style)),
        "",
        "## Overall",
        "",
        _md_table(*_overall_rows(report, style)),
    ]
    parts += ["", "## Not scored", "", _md_table(*_unscored_rows(report))]
    by_language = unscored_language_rows(report)
    if by_language[1]:
        parts += ["", f"## {UNSCORED_BY_LANGUAGE_TITLE}", "", _md_table(*by_language, text_columns=2)]
    for key in report.breakdown_keys:
        parts += ["", f"## By {BREAKDOWN_TITLES.get(key, key).lower()}", ""]
        parts += [_md_table(*_breakdown_rows(report, key, style), text_columns=2)]
    if _has_language_pairs(report):
        parts += ["", f"## {LANGUAGE_PAIRS_TITLE}", ""]
        parts += [
            _md_table(*_language_pair_rows(report, style), text_columns=3),
            "",
            "Each English-setting item counts under the language its base item is translated into, "
            "so both rows of a language measure the same norms.",
        ]
    return "\n".join(parts) + "\n"


# csv ------------------------------------------------------------------------------------------------


def _stat_rows(
    base: Mapping[str, Any], section: str, group: str, subgroup: str, cell: DimensionStats
) -> Iterator[dict[str, Any]]:
    for dimension in REPORTED_DIMENSIONS:
        stat = cell.get(dimension)
        values = {} if stat is None else stat.as_dict()
        yield {
            **base,
            "section": section,
            "group": group,
            "subgroup": subgroup,
            "dimension": dimension,
            **{k: ("" if values.get(k) is None else values[k]) for k in ("mean", "std", "ci_low", "ci_high")},
            "n": values.get("n", 0),
        }


def _csv_rows(report: Report) -> Iterator[dict[str, Any]]:
    for run in report.runs:
        base = {"run_dir": str(run.run_dir), "model": run.model, "judge_config": run.judge.config}
        for subset, by_setting in run.scores.items():
            for setting, cell in by_setting.items():
                yield from _stat_rows(base, "scores", subset, setting, cell)
        yield from _stat_rows(base, "overall", "", "", run.overall)
        for key, groups in run.breakdowns.items():
            for group, cell in groups.items():
                yield from _stat_rows(base, "breakdown", key, group, cell)
        for language, pair in run.language_pairs.items():
            for setting, cell in pair.items():
                yield from _stat_rows(base, "language_pair", language, setting, cell)
        unscored = run.unscored
        yield {**base, "section": "unscored", "group": "failed_generations", "n": unscored.failed_generations}
        for d, statuses in unscored.unscored_by_dimension.items():
            for status, count in statuses.items():
                yield {**base, "section": "unscored", "group": status, "dimension": d, "n": count}
        yield {**base, "section": "unscored", "group": "missing_verdicts", "n": unscored.missing_verdicts}
        yield {**base, "section": "unscored", "group": "ignored_verdicts", "n": unscored.ignored_verdicts}
        for language, counts in run.unscored_by_language.items():
            for status, count in counts.items():
                yield {
                    **base,
                    "section": "unscored_by_language",
                    "group": language,
                    "subgroup": status,
                    "n": count,
                }


def render_csv(report: Report) -> str:
    """The report as one tidy CSV: a row per run, section, group and dimension (`section` says which)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    for row in _csv_rows(report):
        writer.writerow(row)
    return out.getvalue()


# terminal -------------------------------------------------------------------------------------------


_NUMERIC_CELL = re.compile(r"[-+0-9.,±\[\]%e /–]*")
"""A cell made only of numbers, signs, intervals and separators: `61.8 ± 4.2`, `[-3.1, +2.0]`, `0 / 4`."""
_MIN_HEADER_WIDTH = 5
"""A stacked header's lines are at least this wide, so `A - B` stays one line rather than three."""
_MIN_TEXT_WIDTH = 20
"""Narrowest a text column may get before the figures give way: each interval then goes under its mean."""
_BREAK_AFTER = re.compile(r"(?<=[/|\s])")


def fit_label(text: str, width: int) -> str:
    """`text` in lines of at most `width` characters, broken only after a `/` or `|` or at a space.

    A part longer than a whole line (`Qwen2.5-VL-72B-Instruct-AWQ` in 12 columns) is shortened with `…`
    rather than broken, so no name is ever split mid-token.
    """
    lines: list[str] = []
    line = ""
    for part in _BREAK_AFTER.split(text):
        if line and len(line + part.rstrip()) > width:
            lines.append(line.rstrip())
            line = ""
        line += part if len(part.rstrip()) <= width else part.rstrip()[: width - 1] + "…"
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return "\n".join(lines)


def _width(text: str) -> int:
    return max(len(line) for line in text.split("\n"))


@dataclass(frozen=True)
class RowGroup:
    """Rows of a terminal table under an optional bold title row (`CASA · English`)."""

    title: str | None
    rows: Sequence[Sequence[str]]


def _rich_table(
    title: str,
    header: Sequence[str],
    groups: Sequence[RowGroup],
    caption: str | None = None,
    *,
    text_columns: int = 1,
    width: int = TERMINAL_WIDTH,
) -> Table:
    """A terminal table at most `width` columns wide whose figures are never broken.

    The first `text_columns` columns are labels, left-aligned. A column of figures is right-aligned
    and never wraps (`57.9 ± 12.5` stays on one line); its header is stacked instead (`parse_error`
    as `parse` over `error`). Text columns share what the figures leave, wrapped by `fit_label`;
    when that is too little, each interval goes under its mean.
    """
    cells = [list(row) for group in groups for row in group.rows]
    columns = [[row[i] for row in cells] for i in range(len(header))]
    figures = [
        i >= text_columns and all(_NUMERIC_CELL.fullmatch(cell) for cell in column)
        for i, column in enumerate(columns)
    ]
    headers = [
        _stacked_header(name, column) if is_figure else name
        for name, column, is_figure in zip(header, columns, figures, strict=True)
    ]
    stack_intervals = _text_budget(width, headers, columns, figures) < _MIN_TEXT_WIDTH * figures.count(False)
    if stack_intervals:
        columns = [
            [cell.replace(" [", "\n[") for cell in column] if is_figure else column
            for column, is_figure in zip(columns, figures, strict=True)
        ]
    titles = [group.title for group in groups if group.title]
    natural = [
        _column_width(name, [*column, *(titles if i == 0 else [])])
        for i, (name, column, is_figure) in enumerate(zip(headers, columns, figures, strict=True))
        if not is_figure
    ]
    text_widths = iter(_share(_text_budget(width, headers, columns, figures), natural))
    widths = [None if is_figure else next(text_widths) for is_figure in figures]

    def fit(text: str, column: int) -> str:
        column_width = widths[column]
        return text if column_width is None else fit_label(text, column_width)

    table = Table(
        title=Text(title),
        caption=None if caption is None else Text(caption),
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for i, name in enumerate(headers):
        table.add_column(
            Text(fit(name, i)),
            justify="left" if i < text_columns else "right",
            no_wrap=figures[i],
            overflow="ellipsis",
        )
    rows = iter(zip(*columns, strict=True))
    for group in groups:
        if group.title:
            table.add_row(Text(fit(group.title, 0)), *(Text() for _ in header[1:]), style="bold")
        for _ in group.rows:
            table.add_row(*(Text(fit(cell, i)) for i, cell in enumerate(next(rows))))
    return table


def _column_width(header: str, cells: Sequence[str]) -> int:
    return max(_width(text) for text in (header, *cells))


def _stacked_header(name: str, cells: Sequence[str]) -> str:
    """A figure column's header, wrapped to the column's widest figure (but at least 5 wide)."""
    widest = max(map(_width, cells), default=0)
    if len(name) <= widest:
        return name
    lines = textwrap.wrap(name.replace("_", " "), max(widest, _MIN_HEADER_WIDTH), break_long_words=False)
    return "\n".join(lines)


def _text_budget(
    width: int, headers: Sequence[str], columns: Sequence[Sequence[str]], figures: Sequence[bool]
) -> int:
    """What `width` leaves for text columns once the figures and the gaps between columns are placed."""
    figure_widths = [
        _column_width(name, column)
        for name, column, is_figure in zip(headers, columns, figures, strict=True)
        if is_figure
    ]
    return width - sum(figure_widths) - 2 * (len(headers) - 1) - 1


def _share(budget: int, natural: Sequence[int]) -> list[int]:
    """Widths for text columns: their natural widths when all fit, else `budget` shared out fairly.

    The narrowest columns keep their natural width while it is within an equal share of what is left;
    the wider ones split the rest, so a short column (`Language`) is never squeezed for a long one.
    """
    widths = list(natural)
    if sum(natural) <= budget:
        return widths
    left = budget
    by_width = sorted(range(len(natural)), key=natural.__getitem__)
    for position, column in enumerate(by_width):
        widths[column] = max(1, min(natural[column], left // (len(by_width) - position)))
        left -= widths[column]
    return widths


def _flat(rows: Sequence[Sequence[str]]) -> list[RowGroup]:
    return [RowGroup(None, rows)]


def _stacked_scores(report: Report, style: CellStyle, width: int) -> Table:
    """The paper's table for a terminal: a block of rows per subset and setting, then the overall block."""
    labelled = _labelled(report)
    groups = [
        RowGroup(
            f"{SUBSET_TITLES[subset]} · {SETTING_NAMES[setting]}",
            [_group_row([label], run.scores.get(subset, {}).get(setting), style) for label, run in labelled],
        )
        for subset, setting in _cells(report)
    ]
    groups.append(RowGroup("Overall", [_group_row([label], run.overall, style) for label, run in labelled]))
    header = ["Model", *_dimension_titles(), "n"]
    return _rich_table("CROSS-Eval", header, groups, _interval_note(report, style), width=width)


def terminal_summary(report: Report, *, style: CellStyle = "pm", width: int = TERMINAL_WIDTH) -> list[Table]:
    """What `crosseval run` ends with: the stacked score table and what was not scored, and where."""
    width = min(width, TERMINAL_WIDTH)
    tables = [_stacked_scores(report, style, width)]
    header, rows = _unscored_rows(report)
    tables.append(_rich_table("Not scored", header, _flat(rows), width=width))
    header, rows = unscored_language_rows(report)
    if rows:
        tables.append(
            _rich_table(UNSCORED_BY_LANGUAGE_TITLE, header, _flat(rows), text_columns=2, width=width)
        )
    return tables


def render_rich(report: Report, *, style: CellStyle = "pm", width: int = TERMINAL_WIDTH) -> list[Table]:
    """The whole report for the terminal: `terminal_summary`, then the breakdowns and language pairs."""
    width = min(width, TERMINAL_WIDTH)
    tables = terminal_summary(report, style=style, width=width)
    for key in report.breakdown_keys:
        header, rows = _breakdown_rows(report, key, style)
        title = f"By {BREAKDOWN_TITLES.get(key, key).lower()}"
        tables.append(_rich_table(title, header, _flat(rows), text_columns=2, width=width))
    if _has_language_pairs(report):
        header, rows = _language_pair_rows(report, style)
        tables.append(_rich_table(LANGUAGE_PAIRS_TITLE, header, _flat(rows), text_columns=3, width=width))
    return tables


# compare and agreement ------------------------------------------------------------------------------


def _number(value: float | None, digits: int = 1, signed: bool = False) -> str:
    if value is None:
        return NO_SCORE
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _p_value(value: float | None) -> str:
    if value is None:
        return NO_SCORE
    return f"{value:.2e}" if value < 1e-3 else f"{value:.3f}"


def comparison_rows(comparison: Comparison) -> TableRows:
    """Rows of a paired comparison: A, B, A - B with its interval, McNemar counts and p-value."""
    level = round(100 * comparison.bootstrap.confidence)
    header = [
        "Dimension",
        "A",
        "B",
        "A - B",
        f"{level}% CI",
        "A only",
        "B only",
        "Pairs",
        "Ties",
        "McNemar p",
    ]
    rows = []
    for dimension, d in comparison.dimensions.items():
        interval = (
            f"[{_number(d.ci_low, signed=True)}, {_number(d.ci_high, signed=True)}]"
            if d.ci_low is not None
            else NO_SCORE
        )
        rows.append(
            [
                DIMENSION_TITLES[dimension],
                _number(d.mean_a),
                _number(d.mean_b),
                _number(d.difference, signed=True),
                interval,
                str(d.a_only),
                str(d.b_only),
                str(d.pairs),
                str(d.ties_excluded),
                _p_value(d.p_value),
            ]
        )
    return header, rows


def _source_line(name: str, source: ScoredRun | LabelsSource) -> str:
    if isinstance(source, LabelsSource):
        return f"{name}: human labels {source.path} ({source.labels} labels)"
    return f"{name}: {source.model} ({source.run_dir}), judge `{source.judge.config}` ({source.judge.model})"


def comparison_notes(comparison: Comparison) -> list[str]:
    """The method, and a warning when A and B were judged differently (as asked with --judge-config twice)."""
    notes = [f"{name}: {text}" for name, text in COMPARISON_METHOD.items()]
    if not comparison.judged_alike:
        notes.append(
            "warning: A and B were scored by different judge configs, so each difference mixes the "
            "models' and the judges' differences"
        )
    return notes


def _sourced_markdown(
    title: str, a: ScoredRun, b: ScoredRun | LabelsSource, table: TableRows, notes: Sequence[str] = ()
) -> str:
    """A Markdown document: the title, what A and B stand for, the table, then notes."""
    lines = [
        f"# {title}",
        "",
        f"- {_source_line('A', a)}",
        f"- {_source_line('B', b)}",
        "",
        _md_table(*table),
    ]
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def _sourced_rich(
    title: str, a: ScoredRun, b: ScoredRun | LabelsSource, table: TableRows, width: int
) -> Table:
    """A terminal table captioned with what A and B stand for."""
    caption = "\n".join([_source_line("A", a), _source_line("B", b)])
    header, rows = table
    return _rich_table(title, header, _flat(rows), caption, width=min(width, TERMINAL_WIDTH))


def render_comparison_markdown(comparison: Comparison) -> str:
    """A paired comparison as Markdown, with the method stated under the table."""
    table = comparison_rows(comparison)
    notes = comparison_notes(comparison)
    return _sourced_markdown("Paired comparison", comparison.run_a, comparison.run_b, table, notes)


def render_comparison_rich(comparison: Comparison, *, width: int = TERMINAL_WIDTH) -> Table:
    title = "Paired comparison (percent; A - B in points)"
    return _sourced_rich(title, comparison.run_a, comparison.run_b, comparison_rows(comparison), width)


def agreement_rows(result: Agreement) -> TableRows:
    """Rows of judge agreement: n, agreement %, kappa, confusion counts (A's label, B's label)."""
    header = ["Dimension", "n", "Agreement %", "Kappa", "A0B0/A0B1/A1B0/A1B1", "Only A/B"]
    rows = []
    for dimension, d in result.dimensions.items():
        (a0b0, a0b1), (a1b0, a1b1) = d.confusion
        rows.append(
            [
                dimension,
                str(d.n),
                _number(d.agreement),
                _number(d.kappa, digits=3),
                f"{a0b0} / {a0b1} / {a1b0} / {a1b1}",
                f"{d.only_a} / {d.only_b}",
            ]
        )
    return header, rows


def render_agreement_markdown(result: Agreement) -> str:
    return _sourced_markdown("Judge agreement", result.a, result.b, agreement_rows(result))


def render_agreement_rich(result: Agreement, *, width: int = TERMINAL_WIDTH) -> Table:
    title = "Judge agreement (judge dimensions; violation as judged)"
    return _sourced_rich(title, result.a, result.b, agreement_rows(result), width)
