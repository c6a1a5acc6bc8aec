"""The report dict (`crosseval.report.summary.build_report`) rendered as Markdown, CSV or rich tables.

The layout follows the paper: one row per model, and for each of CASA / SafeWorld x English /
Multilingual the four dimensions (Awareness, Education, Compliance, Helpfulness, in percent); then
the overall row, what was not scored, the breakdowns, and the English-vs-translated pairs per language.
"""

from __future__ import annotations

import csv
import io
import re
import textwrap
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from rich import box
from rich.table import Table

from crosseval.data.records import SETTINGS, SUBSETS

CellStyle = Literal["pm", "interval"]
"""`pm`: "mean ± half-width of the interval"; `interval`: "mean [low, high]"."""

DIMENSION_TITLES: dict[str, str] = {
    "awareness": "Awareness",
    "education": "Education",
    "compliance": "Compliance",
    "helpfulness": "Helpfulness",
}
SUBSET_TITLES: dict[str, str] = {"casa": "CASA", "safeworld": "SafeWorld"}
SETTING_TITLES: dict[str, str] = {"english": "En", "multilingual": "Ml"}
BREAKDOWN_TITLES: dict[str, str] = {
    "country": "Country",
    "language": "Language",
    "domain": "Domain",
    "variant": "Paraphrase variant (English)",
}
LANGUAGE_PAIRS_TITLE = "English vs translated query, by language"
PAIR_QUERY_TITLES: dict[str, str] = {"english": "English", "multilingual": "Translated"}
"""How each side of a language pair was asked: the English query, or its translation."""
UNSCORED_STATUSES: tuple[str, ...] = ("parse_error", "api_error", "refused")
NO_SCORE = "–"

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


def format_stat(stat: Mapping[str, Any] | None, style: CellStyle = "pm", digits: int = 1) -> str:
    """One cell: `61.8 ± 4.2`, `61.8 [57.6, 66.0]`, or `–` when nothing was scored."""
    if not stat or stat.get("mean") is None:
        return NO_SCORE
    mean = float(stat["mean"])
    low, high = stat.get("ci_low"), stat.get("ci_high")
    if low is None or high is None:
        return f"{mean:.{digits}f}"
    if style == "interval":
        return f"{mean:.{digits}f} [{float(low):.{digits}f}, {float(high):.{digits}f}]"
    return f"{mean:.{digits}f} ± {(float(high) - float(low)) / 2:.{digits}f}"


def row_labels(report: Mapping[str, Any]) -> list[str]:
    """The model name of each run, with the run directory's name added where models repeat."""
    runs = report["runs"]
    counts = Counter(run["model"] for run in runs)
    return [
        run["model"] if counts[run["model"]] == 1 else f"{run['model']} ({Path(run['run_dir']).name})"
        for run in runs
    ]


def _dimensions(report: Mapping[str, Any]) -> list[str]:
    return list(report.get("dimensions") or DIMENSION_TITLES)


def _cells(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (subset, setting) columns present in any run, in the paper's order."""
    present = {
        (subset, setting) for run in report["runs"] for subset, s in run["scores"].items() for setting in s
    }
    return [(subset, setting) for subset in SUBSETS for setting in SETTINGS if (subset, setting) in present]


def _interval_note(report: Mapping[str, Any], style: CellStyle) -> str:
    boot = report.get("bootstrap", {})
    level = round(100 * float(boot.get("confidence", 0.95)))
    shape = "mean ± half-width of" if style == "pm" else "mean [low, high] of"
    return (
        f"Rates in percent, mean over rounds; {shape} the {level}% interval from a bootstrap over base items "
        f"({boot.get('reps', '?')} replicates, seed {boot.get('seed', '?')}). "
        f"{NO_SCORE} = no scored verdict. Compliance = 100 - violation rate."
    )


def _judge_line(label: str, run: Mapping[str, Any]) -> str:
    judge = run.get("judge", {})
    chosen = {
        "only": "the run's only judge config",
        "most_recent": f"the most recent of {len(judge.get('available', []))} judge configs",
        "requested": "as requested",
    }.get(judge.get("chosen", ""), "")
    details = ", ".join(
        x for x in (str(judge.get("model", "")), f"protocol {judge.get('protocol', '?')}") if x
    )
    return f"{label} ({run['run_dir']}): judge `{judge.get('config', '?')}` ({details}; {chosen})"


# markdown -------------------------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, text_columns: int = 1) -> str:
    """A Markdown table; the first `text_columns` columns are left-aligned, numbers right-aligned."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    aligns = ["---"] * text_columns + ["---:"] * (len(header) - text_columns)
    return "\n".join([line(header), "| " + " | ".join(aligns) + " |", *(line(r) for r in rows)])


def _score_rows(report: Mapping[str, Any], style: CellStyle) -> tuple[list[str], list[list[str]]]:
    dims = _dimensions(report)
    cells = _cells(report)
    header = ["Model"] + [
        f"{SUBSET_TITLES[subset]} {SETTING_TITLES[setting]} {DIMENSION_TITLES.get(d, d)}"
        for subset, setting in cells
        for d in dims
    ]
    rows = []
    for label, run in zip(row_labels(report), report["runs"], strict=True):
        row = [label]
        for subset, setting in cells:
            cell = run["scores"].get(subset, {}).get(setting)
            row += [format_stat(cell.get(d), style) if cell else "" for d in dims]
        rows.append(row)
    return header, rows


def _overall_rows(report: Mapping[str, Any], style: CellStyle) -> tuple[list[str], list[list[str]]]:
    dims = _dimensions(report)
    header = ["Model", *(DIMENSION_TITLES.get(d, d) for d in dims), "Scored verdicts"]
    rows = []
    for label, run in zip(row_labels(report), report["runs"], strict=True):
        overall = run["overall"]
        n = sum(int(overall.get(d, {}).get("n", 0)) for d in dims)
        rows.append([label, *(format_stat(overall.get(d), style) for d in dims), str(n)])
    return header, rows


def _unscored_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = [
        "Model",
        "Responses",
        "Failed generations",
        *UNSCORED_STATUSES,
        "Missing verdicts",
        "Ignored verdicts",
    ]
    rows = []
    for label, run in zip(row_labels(report), report["runs"], strict=True):
        u = run["unscored"]
        failed = str(u["failed_generations"])
        if u.get("failed_generations_by_kind"):
            failed += " (" + ", ".join(f"{k} {v}" for k, v in u["failed_generations_by_kind"].items()) + ")"
        verdicts = u.get("verdicts", {})
        rows.append(
            [
                label,
                str(u["generations"]),
                failed,
                *(str(verdicts.get(s, 0)) for s in UNSCORED_STATUSES),
                str(u.get("missing_verdicts", 0)),
                str(u.get("ignored_verdicts", 0)),
            ]
        )
    return header, rows


def _breakdown_rows(
    report: Mapping[str, Any], key: str, style: CellStyle
) -> tuple[list[str], list[list[str]]]:
    dims = _dimensions(report)
    header = ["Model", BREAKDOWN_TITLES.get(key, key), *(DIMENSION_TITLES.get(d, d) for d in dims), "n"]
    rows = [
        _group_row([label, group], cell, dims, style)
        for label, run in zip(row_labels(report), report["runs"], strict=True)
        for group, cell in run.get("breakdowns", {}).get(key, {}).items()
    ]
    return header, rows


def _language_pair_rows(report: Mapping[str, Any], style: CellStyle) -> tuple[list[str], list[list[str]]]:
    """Per run and translated language, the same base items asked in English and in translation."""
    dims = _dimensions(report)
    header = ["Model", "Language", "Query", *(DIMENSION_TITLES.get(d, d) for d in dims), "n"]
    rows = [
        _group_row([label, language, PAIR_QUERY_TITLES.get(setting, setting)], cell, dims, style)
        for label, run in zip(row_labels(report), report["runs"], strict=True)
        for language, by_setting in run.get("language_pairs", {}).items()
        for setting, cell in by_setting.items()
    ]
    return header, rows


def _group_row(
    labels: list[str], cell: Mapping[str, Any], dims: Sequence[str], style: CellStyle
) -> list[str]:
    """Label cells, one cell per dimension, and the largest number of scores behind any of them."""
    n = max((int(cell.get(d, {}).get("n", 0)) for d in dims), default=0)
    return [*labels, *(format_stat(cell.get(d), style) for d in dims), str(n)]


def _has_language_pairs(report: Mapping[str, Any]) -> bool:
    return any(run.get("language_pairs") for run in report["runs"])


def _breakdown_keys(report: Mapping[str, Any]) -> list[str]:
    keys = list(report.get("breakdown_keys") or [])
    for run in report["runs"]:
        keys += [k for k in run.get("breakdowns", {}) if k not in keys]
    return keys


def render_markdown(report: Mapping[str, Any], *, style: CellStyle = "pm") -> str:
    """The whole report as Markdown: scores in the paper's layout, overall, unscored, breakdowns, pairs."""
    labels = row_labels(report)
    parts = ["# CROSS-Eval results", ""]
    parts += [f"- {_judge_line(label, run)}" for label, run in zip(labels, report["runs"], strict=True)]
    parts += ["", _interval_note(report, style), "", "## Scores by subset and setting", ""]
    parts += [
        _md_table(*_score_rows(report, style)),
        "",
        "## Overall",
        "",
        _md_table(*_overall_rows(report, style)),
    ]
    parts += ["", "## Not scored", "", _md_table(*_unscored_rows(report))]
    for key in _breakdown_keys(report):
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


def _stat_row(
    base: Mapping[str, Any], section: str, group: str, subgroup: str, dim: str, stat: Mapping[str, Any]
) -> dict[str, Any]:
    values = {k: ("" if stat.get(k) is None else stat.get(k)) for k in ("mean", "std", "ci_low", "ci_high")}
    return {
        **base,
        "section": section,
        "group": group,
        "subgroup": subgroup,
        "dimension": dim,
        **values,
        "n": stat.get("n", 0),
    }


def _csv_rows(report: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    dims = _dimensions(report)
    for run in report["runs"]:
        base = {
            "run_dir": run["run_dir"],
            "model": run["model"],
            "judge_config": run["judge"].get("config", ""),
        }
        for subset, by_setting in run["scores"].items():
            for setting, cell in by_setting.items():
                for d in dims:
                    yield _stat_row(base, "scores", subset, setting, d, cell.get(d, {}))
        for d in dims:
            yield _stat_row(base, "overall", "", "", d, run["overall"].get(d, {}))
        for key, groups in run.get("breakdowns", {}).items():
            for group, cell in groups.items():
                for d in dims:
                    yield _stat_row(base, "breakdown", key, group, d, cell.get(d, {}))
        for language, by_setting in run.get("language_pairs", {}).items():
            for setting, cell in by_setting.items():
                for d in dims:
                    yield _stat_row(base, "language_pair", language, setting, d, cell.get(d, {}))
        unscored = run["unscored"]
        yield {
            **base,
            "section": "unscored",
            "group": "failed_generations",
            "n": unscored["failed_generations"],
        }
        for d, statuses in unscored.get("by_dimension", {}).items():
            for status, count in statuses.items():
                yield {**base, "section": "unscored", "group": status, "dimension": d, "n": count}
        for group in ("missing_verdicts", "ignored_verdicts"):
            yield {**base, "section": "unscored", "group": group, "n": unscored.get(group, 0)}


def render_csv(report: Mapping[str, Any]) -> str:
    """The report as one tidy CSV: a row per run, section, group and dimension (`section` says which)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    for row in _csv_rows(report):
        writer.writerow(row)
    return out.getvalue()


# rich -----------------------------------------------------------------------------------------------


_NUMERIC_CELL = re.compile(r"[-+0-9.,±\[\]%e /–]*")
"""A cell made only of numbers, signs, intervals and separators: `61.8 ± 4.2`, `[-3.1, +2.0]`, `0 / 4`."""
_MIN_HEADER_WIDTH = 5
"""A stacked header's lines are at least this wide, so `A - B` stays one line rather than three."""
_MIN_LABEL_WIDTH = 12
"""Narrowest a wrapping column gets: a long model name folds at this width rather than one letter a line."""


def _rich_table(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    caption: str | None = None,
    *,
    text_columns: int = 1,
) -> Table:
    """A terminal table that stays readable when the terminal is narrow.

    The first `text_columns` columns are labels: left-aligned, and they wrap (a long model name folds).
    A column of numbers never breaks inside a cell (`57.9 ± 12.5` stays on one line); its header is
    stacked instead (`parse_error` as `parse` over `error`), so narrow terminals squeeze the labels, not
    the figures.
    """
    table = Table(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for i, name in enumerate(header):
        cells = [row[i] for row in rows]
        numeric = i >= text_columns and all(_NUMERIC_CELL.fullmatch(cell) for cell in cells)
        widest = max((len(cell) for cell in cells), default=0)
        if numeric and len(name) > widest:
            spaced = name.replace("_", " ")
            name = "\n".join(textwrap.wrap(spaced, max(widest, _MIN_HEADER_WIDTH), break_long_words=False))
        words = [word for text in (name, *cells) for word in text.split()]
        table.add_column(
            name,
            justify="left" if i < text_columns else "right",
            overflow="fold",
            no_wrap=numeric,
            min_width=None if numeric else min(max(map(len, words), default=1), _MIN_LABEL_WIDTH),
        )
    for row in rows:
        table.add_row(*row)
    return table


def render_rich(report: Mapping[str, Any], *, style: CellStyle = "pm") -> list[Table]:
    """The report as rich tables for the terminal, in the order of the Markdown report."""
    cells = _cells(report)
    tables = [
        _rich_table(
            f"CROSS-Eval: {SUBSET_TITLES[subset]} {SETTING_TITLES[setting]}",
            *_cell_rows(report, subset, setting, style),
            _interval_note(report, style) if i == len(cells) - 1 else None,
        )
        for i, (subset, setting) in enumerate(cells)
    ]
    tables.append(_rich_table("Overall", *_overall_rows(report, style)))
    tables.append(_rich_table("Not scored", *_unscored_rows(report)))
    for key in _breakdown_keys(report):
        tables.append(
            _rich_table(
                f"By {BREAKDOWN_TITLES.get(key, key).lower()}",
                *_breakdown_rows(report, key, style),
                text_columns=2,
            )
        )
    if _has_language_pairs(report):
        tables.append(_rich_table(LANGUAGE_PAIRS_TITLE, *_language_pair_rows(report, style), text_columns=3))
    return tables


def _cell_rows(
    report: Mapping[str, Any], subset: str, setting: str, style: CellStyle
) -> tuple[list[str], list[list[str]]]:
    """One (subset, setting) block of the paper's table: terminals are too narrow for all sixteen columns."""
    dims = _dimensions(report)
    header = ["Model", *(DIMENSION_TITLES.get(d, d) for d in dims)]
    rows = []
    for label, run in zip(row_labels(report), report["runs"], strict=True):
        cell = run["scores"].get(subset, {}).get(setting)
        rows.append([label, *(format_stat(cell.get(d), style) if cell else "" for d in dims)])
    return header, rows


def judge_lines(report: Mapping[str, Any]) -> list[str]:
    """One line per run saying which judge configuration was scored and why that one."""
    return [_judge_line(label, run) for label, run in zip(row_labels(report), report["runs"], strict=True)]


# compare and agreement ------------------------------------------------------------------------------


def _number(value: Any, digits: int = 1, signed: bool = False) -> str:
    if value is None:
        return NO_SCORE
    return f"{float(value):+.{digits}f}" if signed else f"{float(value):.{digits}f}"


def _p_value(value: Any) -> str:
    if value is None:
        return NO_SCORE
    return f"{float(value):.2e}" if float(value) < 1e-3 else f"{float(value):.3f}"


def comparison_rows(comparison: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Rows of a paired comparison: A, B, A - B with its interval, McNemar counts and p-value."""
    level = round(100 * float(comparison.get("bootstrap", {}).get("confidence", 0.95)))
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
    for dimension, d in comparison["dimensions"].items():
        interval = (
            f"[{_number(d['ci_low'], signed=True)}, {_number(d['ci_high'], signed=True)}]"
            if d.get("ci_low") is not None
            else NO_SCORE
        )
        rows.append(
            [
                DIMENSION_TITLES.get(dimension, dimension),
                _number(d["mean_a"]),
                _number(d["mean_b"]),
                _number(d["difference"], signed=True),
                interval,
                str(d["a_only"]),
                str(d["b_only"]),
                str(d["pairs"]),
                str(d["ties_excluded"]),
                _p_value(d["p_value"]),
            ]
        )
    return header, rows


def _source_line(name: str, source: Mapping[str, Any]) -> str:
    if source.get("source") == "labels":
        return f"{name}: human labels {source['path']} ({source.get('labels', '?')} labels)"
    judge = source.get("judge", {})
    return f"{name}: {source.get('model', '?')} ({source['run_dir']}), judge `{judge.get('config', '?')}` ({judge.get('model', '?')})"


def render_comparison_markdown(comparison: Mapping[str, Any]) -> str:
    """A paired comparison as Markdown, with the method stated under the table."""
    method = comparison.get("method", {})
    lines = [
        "# Paired comparison",
        "",
        f"- {_source_line('A', comparison['run_a'])}",
        f"- {_source_line('B', comparison['run_b'])}",
        "",
        _md_table(*comparison_rows(comparison)),
        "",
        *(f"- {k}: {v}" for k, v in method.items()),
    ]
    return "\n".join(lines) + "\n"


def render_comparison_rich(comparison: Mapping[str, Any]) -> Table:
    caption = "\n".join([_source_line("A", comparison["run_a"]), _source_line("B", comparison["run_b"])])
    return _rich_table("Paired comparison (percent; A - B in points)", *comparison_rows(comparison), caption)


def agreement_rows(result: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Rows of judge agreement: n, agreement %, kappa, confusion counts (A's label, B's label)."""
    header = ["Dimension", "n", "Agreement %", "Kappa", "A0B0/A0B1/A1B0/A1B1", "Only A/B"]
    rows = []
    for dimension, d in result["dimensions"].items():
        c = d["confusion"]
        rows.append(
            [
                dimension,
                str(d["n"]),
                _number(d["agreement"]),
                _number(d["kappa"], digits=3),
                " / ".join(str(c[k]) for k in ("a0_b0", "a0_b1", "a1_b0", "a1_b1")),
                f"{d['only_a']} / {d['only_b']}",
            ]
        )
    return header, rows


def render_agreement_markdown(result: Mapping[str, Any]) -> str:
    lines = [
        "# Judge agreement",
        "",
        f"- {_source_line('A', result['a'])}",
        f"- {_source_line('B', result['b'])}",
        "",
        _md_table(*agreement_rows(result)),
    ]
    return "\n".join(lines) + "\n"


def render_agreement_rich(result: Mapping[str, Any]) -> Table:
    caption = "\n".join([_source_line("A", result["a"]), _source_line("B", result["b"])])
    return _rich_table(
        "Judge agreement (judge dimensions; violation as judged)", *agreement_rows(result), caption
    )
