"""`crosseval report`, `crosseval compare` and `crosseval agreement`: read judged runs, print statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from crosseval.metrics.breakdowns import BREAKDOWN_KEYS, parse_breakdown_keys
from crosseval.metrics.runs import RunInputError
from crosseval.report.summary import build_agreement, build_comparison, build_report
from crosseval.report.tables import (
    CellStyle,
    judge_lines,
    render_agreement_markdown,
    render_agreement_rich,
    render_comparison_markdown,
    render_comparison_rich,
    render_csv,
    render_markdown,
    render_rich,
)

EXIT_BAD_INPUT = 1

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Reps = Annotated[int, typer.Option("--bootstrap-reps", min=1, help="Bootstrap replicates for the intervals.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap (reports repeat exactly).")]


def _fail(message: str) -> typer.Exit:
    """Prints `error: message` on stderr and returns the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories; one table row each.")],
    as_json: JsonFlag = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print one tidy CSV.")] = False,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown tables.")] = False,
    judge_config: Annotated[
        str | None,
        typer.Option("--judge-config", help="Judge configuration to score (default: the only/most recent)."),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help=f"Breakdowns, comma-separated: {','.join(BREAKDOWN_KEYS)} (default all)."),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML report.")
    ] = None,
    interval: Annotated[
        bool, typer.Option("--interval", help="Cells as 'mean [low, high]', not 'mean ± half'.")
    ] = False,
    bootstrap_reps: Reps = 2000,
    seed: Seed = 0,
) -> None:
    """Score judged runs: the paper's table (CASA / SafeWorld x English / Multilingual), overall, breakdowns."""
    if sum((as_json, as_csv, as_markdown)) > 1:
        raise _fail("choose one of --json, --csv, --markdown")
    try:
        keys = parse_breakdown_keys(by) if by is not None else BREAKDOWN_KEYS
        data = build_report(
            run_dirs, judge_config=judge_config, bootstrap_reps=bootstrap_reps, seed=seed, breakdown_keys=keys
        )
    except (RunInputError, ValueError) as exc:
        raise _fail(str(exc)) from None
    style: CellStyle = "interval" if interval else "pm"
    if html is not None:
        _write_html(run_dirs, html, data)
    if as_json:
        _print_json(data)
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
        raise _fail(f"the HTML report is not available in this installation ({exc})") from None
    write_html_report(run_dirs, out_path, report=data)
    typer.echo(f"wrote {out_path}", err=True)


def compare(
    run_a: Annotated[Path, typer.Argument(help="Run A.")],
    run_b: Annotated[Path, typer.Argument(help="Run B, over the same samples.")],
    as_json: JsonFlag = False,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown.")] = False,
    judge_config: Annotated[
        list[str] | None, typer.Option("--judge-config", help="Once for both runs, or twice: for A, then B.")
    ] = None,
    bootstrap_reps: Reps = 2000,
    seed: Seed = 0,
) -> None:
    """Paired comparison of two runs: A - B per dimension with a bootstrap interval and McNemar's exact test."""
    try:
        data = build_comparison(
            run_a, run_b, judge_configs=judge_config or (), bootstrap_reps=bootstrap_reps, seed=seed
        )
    except (RunInputError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(data)
    elif as_markdown:
        typer.echo(render_comparison_markdown(data), nl=False)
    else:
        console = Console()
        console.print(render_comparison_rich(data))
        for name, text in data["method"].items():
            console.print(f"{name}: {text}", markup=False, highlight=False, soft_wrap=True)


def agreement(
    run_a: Annotated[Path, typer.Argument(help="A judged run.")],
    run_b: Annotated[Path | None, typer.Argument(help="A second run over the same responses.")] = None,
    labels: Annotated[
        Path | None, typer.Option("--labels", help="Human labels CSV: sample_id,dimension,label[,round].")
    ] = None,
    judge_config: Annotated[
        list[str] | None,
        typer.Option("--judge-config", help="Judge configs: two for one run, or one/two for two runs."),
    ] = None,
    as_json: JsonFlag = False,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown.")] = False,
) -> None:
    """Agreement of two judges (or a judge and human labels) per dimension: agreement %, Cohen's kappa, confusion."""
    try:
        data = build_agreement(run_a, run_b, labels=labels, judge_configs=judge_config or ())
    except (RunInputError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(data)
    elif as_markdown:
        typer.echo(render_agreement_markdown(data), nl=False)
    else:
        Console().print(render_agreement_rich(data))


def register(app: typer.Typer) -> None:
    """Adds `report`, `compare` and `agreement` to the top-level app."""
    app.command("report")(report)
    app.command("compare")(compare)
    app.command("agreement")(agreement)
