"""`crosseval report`, `crosseval compare` and `crosseval agreement`: read judged runs, print statistics.

Each builds a typed result (`crosseval.report.model`) and prints it as `--json` (its `as_dict()`),
Markdown, CSV or terminal tables; `print_terminal_report` is also how `crosseval run` ends. A run
judged several ways is reported as a row per judge configuration; `--judge-config` takes an id or an
unambiguous prefix of one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from crosseval.cli.common import fail, print_json
from crosseval.cli.helptext import COMMAND_PANEL_RESULTS, PANEL_STATISTICS, examples
from crosseval.cli.options import JsonOption, JudgeConfigOption, flag, option

if TYPE_CHECKING:
    from rich.console import RenderableType

    from crosseval.report.model import Report
    from crosseval.report.tables import CellStyle

Built = TypeVar("Built")

EXIT_BAD_INPUT = 1

BREAKDOWN_NAMES = ("country", "language", "domain", "variant")
"""`crosseval.metrics.breakdowns.BREAKDOWN_KEYS`, written here so `--help` does not import the statistics stack."""

MarkdownOption = Annotated[bool, flag("--markdown", help="Print Markdown tables.")]
Reps = Annotated[
    int,
    option(
        "--bootstrap-reps",
        metavar="N",
        panel=PANEL_STATISTICS,
        min=1,
        help="Bootstrap replicates behind each interval.",
    ),
]
Seed = Annotated[
    int,
    option(
        "--seed", metavar="N", panel=PANEL_STATISTICS, help="Bootstrap seed; the same seed repeats a report."
    ),
]
RunDirsArgument = Annotated[
    list[Path],
    typer.Argument(
        metavar="RUN_DIR",
        help="Run directories; a table row each (per judge config, when judged several ways).",
        show_default=False,
    ),
]
PairedJudgeConfigs = Annotated[
    list[str] | None,
    option(
        "--judge-config",
        metavar="NAME",
        panel=PANEL_STATISTICS,
        when_unset="the one both runs share",
        help="Once for both runs, or twice: for A, then B. An id or a prefix of one.",
    ),
]


def _build_or_exit(build: Callable[[], Built]) -> Built:
    """`build()`, with a bad run or bad option printed as `error: ...` (and its hint) and exit 1."""
    from crosseval.metrics.runs import RunInputError

    try:
        return build()
    except (RunInputError, ValueError) as exc:
        hint = exc.hint if isinstance(exc, RunInputError) else None
        fail(f"{exc}\nhint: {hint}" if hint else str(exc), code=EXIT_BAD_INPUT)


def _emit(
    data: Built,
    as_dict: Callable[[Built], dict[str, Any]],
    as_json: bool,
    as_markdown: bool,
    markdown: Callable[[Built], str],
    rich: Callable[[Built, int], RenderableType],
) -> bool:
    """Print `data` as JSON, Markdown or a rich table; True when it printed the rich table."""
    if as_json:
        print_json(as_dict(data))
    elif as_markdown:
        typer.echo(markdown(data), nl=False)
    else:
        console = Console()
        console.print(rich(data, console.width))
        return True
    return False


def print_terminal_report(report: Report, *, style: CellStyle = "pm", summary_only: bool = False) -> None:
    """The report on the terminal: the judge of each row, then the tables (only the summary's, if asked)."""
    from crosseval.report.tables import judge_lines, render_rich, terminal_summary

    console = Console()
    for line in judge_lines(report):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    render = terminal_summary if summary_only else render_rich
    for table in render(report, style=style, width=console.width):
        console.print(table)


def report(
    run_dirs: RunDirsArgument,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, flag("--csv", help="Print one tidy CSV.")] = False,
    as_markdown: MarkdownOption = False,
    judge_config: JudgeConfigOption = None,
    by: Annotated[
        str | None,
        option(
            "--by",
            metavar="KEYS",
            panel=PANEL_STATISTICS,
            when_unset="all",
            help=f"Breakdowns, comma-separated: {','.join(BREAKDOWN_NAMES)}.",
        ),
    ] = None,
    html: Annotated[
        Path | None, option("--html", metavar="FILE", help="Also write a self-contained HTML report.")
    ] = None,
    interval: Annotated[
        bool, flag("--interval", help="Cells as 'mean \\[low, high]', not 'mean ± half'.")
    ] = False,
    bootstrap_reps: Reps = 2000,
    seed: Seed = 0,
) -> None:
    """Score judged runs: the paper's table (CASA / SafeWorld x English / Multilingual), overall, breakdowns."""
    from crosseval.metrics.breakdowns import BREAKDOWN_KEYS, parse_breakdown_keys
    from crosseval.report.summary import build_report
    from crosseval.report.tables import render_csv, render_markdown

    if sum((as_json, as_csv, as_markdown)) > 1:
        fail("choose one of --json, --csv, --markdown", code=EXIT_BAD_INPUT)
    data = _build_or_exit(
        lambda: build_report(
            run_dirs,
            judge_config=judge_config,
            bootstrap_reps=bootstrap_reps,
            seed=seed,
            breakdown_keys=parse_breakdown_keys(by) if by is not None else BREAKDOWN_KEYS,
        )
    )
    style: CellStyle = "interval" if interval else "pm"
    if html is not None:
        _write_html(run_dirs, html, data)
    if as_json:
        print_json(data.as_dict())
    elif as_csv:
        typer.echo(render_csv(data), nl=False)
    elif as_markdown:
        typer.echo(render_markdown(data, style=style), nl=False)
    else:
        print_terminal_report(data, style=style)


def _write_html(run_dirs: list[Path], out_path: Path, data: Report) -> None:
    try:
        from crosseval.report.html import write_html_report
    except ImportError as exc:
        fail(f"the HTML report is not available in this installation ({exc})", code=EXIT_BAD_INPUT)
    write_html_report(run_dirs, out_path, report=data)
    typer.echo(f"wrote {out_path}", err=True)


def compare(
    run_a: Annotated[
        Path, typer.Argument(metavar="RUN_A", help="Run A, e.g. the tuned model.", show_default=False)
    ],
    run_b: Annotated[
        Path, typer.Argument(metavar="RUN_B", help="Run B, over the same samples.", show_default=False)
    ],
    as_json: JsonOption = False,
    as_markdown: MarkdownOption = False,
    judge_config: PairedJudgeConfigs = None,
    bootstrap_reps: Reps = 2000,
    seed: Seed = 0,
) -> None:
    """Paired comparison of two runs judged alike: A - B per dimension, a bootstrap interval, McNemar's exact test."""
    from crosseval.report.comparisons import build_comparison
    from crosseval.report.model import Comparison
    from crosseval.report.tables import comparison_notes, render_comparison_markdown, render_comparison_rich

    data = _build_or_exit(
        lambda: build_comparison(
            run_a, run_b, judge_configs=judge_config or (), bootstrap_reps=bootstrap_reps, seed=seed
        )
    )
    rich = _emit(
        data,
        Comparison.as_dict,
        as_json,
        as_markdown,
        render_comparison_markdown,
        lambda comparison, width: render_comparison_rich(comparison, width=width),
    )
    if rich:
        console = Console()
        for note in comparison_notes(data):
            console.print(note, markup=False, highlight=False, soft_wrap=True)


def agreement(
    run_a: Annotated[Path, typer.Argument(metavar="RUN_A", help="A judged run.", show_default=False)],
    run_b: Annotated[
        Path | None,
        typer.Argument(metavar="RUN_B", help="A second run over the same responses.", show_default=False),
    ] = None,
    labels: Annotated[
        Path | None,
        option(
            "--labels", metavar="CSV", help="Human labels: sample_id,dimension,label and optionally round."
        ),
    ] = None,
    judge_config: Annotated[
        list[str] | None,
        option(
            "--judge-config",
            metavar="NAME",
            when_unset="the run's two, or the one both runs share",
            help="Twice to compare two judges of one run; once or twice with RUN_B. An id or a prefix of one.",
        ),
    ] = None,
    as_json: JsonOption = False,
    as_markdown: MarkdownOption = False,
) -> None:
    """Agreement of two judges (or a judge and human labels) per dimension: agreement %, Cohen's kappa, confusion."""
    from crosseval.report.comparisons import build_agreement
    from crosseval.report.model import Agreement
    from crosseval.report.tables import render_agreement_markdown, render_agreement_rich

    data = _build_or_exit(
        lambda: build_agreement(run_a, run_b, labels=labels, judge_configs=judge_config or ())
    )
    _emit(
        data,
        Agreement.as_dict,
        as_json,
        as_markdown,
        render_agreement_markdown,
        lambda result, width: render_agreement_rich(result, width=width),
    )


REPORT_EXAMPLES = examples(
    "crosseval report runs/gpt4o-mini runs/qwen --markdown",
    "crosseval report runs/qwen --by country,language --html report.html",
)
COMPARE_EXAMPLES = examples(
    "crosseval compare runs/qwen-tuned runs/qwen  # paired lift, bootstrap CI, McNemar",
)
AGREEMENT_EXAMPLES = examples(
    "crosseval agreement runs/qwen --judge-config A --judge-config B",
    "crosseval agreement runs/qwen --labels human.csv",
)


def register(app: typer.Typer) -> None:
    """Adds `report`, `compare` and `agreement` to the top-level app."""
    app.command("report", epilog=REPORT_EXAMPLES, rich_help_panel=COMMAND_PANEL_RESULTS)(report)
    app.command("compare", epilog=COMPARE_EXAMPLES, rich_help_panel=COMMAND_PANEL_RESULTS)(compare)
    app.command("agreement", epilog=AGREEMENT_EXAMPLES, rich_help_panel=COMMAND_PANEL_RESULTS)(agreement)
