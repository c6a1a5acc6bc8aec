"""`crosseval report`, `crosseval compare` and `crosseval agreement`: read judged runs, print statistics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from crosseval.cli.common import fail, print_json
from crosseval.cli.helptext import COMMAND_PANEL_RESULTS, PANEL_STATISTICS, examples
from crosseval.cli.options import JsonOption, JudgeConfigOption, flag, option

if TYPE_CHECKING:
    from rich.console import RenderableType

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
    typer.Argument(metavar="RUN_DIR", help="Run directories; one table row each.", show_default=False),
]


def _build_or_exit(build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`build()`, with a bad run or bad option printed as `error: ...` and exit 1."""
    from crosseval.metrics.runs import RunInputError

    try:
        return build()
    except (RunInputError, ValueError) as exc:
        fail(str(exc), code=EXIT_BAD_INPUT)


def _emit(
    data: dict[str, Any],
    as_json: bool,
    as_markdown: bool,
    markdown: Callable[[dict[str, Any]], str],
    rich: Callable[[dict[str, Any]], RenderableType],
) -> bool:
    """Print `data` as JSON, Markdown or a rich table; True when it printed the rich table."""
    if as_json:
        print_json(data)
    elif as_markdown:
        typer.echo(markdown(data), nl=False)
    else:
        Console().print(rich(data))
        return True
    return False


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
    from crosseval.report.tables import CellStyle, judge_lines, render_csv, render_markdown, render_rich

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
        print_json(data)
    elif as_csv:
        typer.echo(render_csv(data), nl=False)
    elif as_markdown:
        typer.echo(render_markdown(data, style=style), nl=False)
    else:
        console = Console()
        for line in judge_lines(data):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        for table in render_rich(data, style=style):
            console.print(table)


def _write_html(run_dirs: list[Path], out_path: Path, data: dict[str, Any]) -> None:
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
    judge_config: Annotated[
        list[str] | None,
        option(
            "--judge-config",
            metavar="NAME",
            panel=PANEL_STATISTICS,
            when_unset="the only or latest",
            help="Once for both runs, or twice: for A, then B.",
        ),
    ] = None,
    bootstrap_reps: Reps = 2000,
    seed: Seed = 0,
) -> None:
    """Paired comparison of two runs: A - B per dimension with a bootstrap interval and McNemar's exact test."""
    from crosseval.report.summary import build_comparison
    from crosseval.report.tables import render_comparison_markdown, render_comparison_rich

    data = _build_or_exit(
        lambda: build_comparison(
            run_a, run_b, judge_configs=judge_config or (), bootstrap_reps=bootstrap_reps, seed=seed
        )
    )
    if _emit(data, as_json, as_markdown, render_comparison_markdown, render_comparison_rich):
        console = Console()
        for name, text in data["method"].items():
            console.print(f"{name}: {text}", markup=False, highlight=False, soft_wrap=True)


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
            when_unset="the only or latest",
            help="Twice to compare two judges of one run; once or twice with RUN_B.",
        ),
    ] = None,
    as_json: JsonOption = False,
    as_markdown: MarkdownOption = False,
) -> None:
    """Agreement of two judges (or a judge and human labels) per dimension: agreement %, Cohen's kappa, confusion."""
    from crosseval.report.summary import build_agreement
    from crosseval.report.tables import render_agreement_markdown, render_agreement_rich

    data = _build_or_exit(
        lambda: build_agreement(run_a, run_b, labels=labels, judge_configs=judge_config or ())
    )
    _emit(data, as_json, as_markdown, render_agreement_markdown, render_agreement_rich)


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
