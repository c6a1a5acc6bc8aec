"""`crosseval generate` (ask a model every sample, resumably) and `crosseval export` (a run's rows as a file)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.markup import escape
from rich.table import Table

from crosseval.cli.common import console, err_console, fail, run_interruptible
from crosseval.cli.helptext import COMMAND_PANEL_EVALUATE, COMMAND_PANEL_RESULTS, examples
from crosseval.cli.options import (
    ConfigFileOption,
    ModelOptions,
    RetryOptions,
    SampleSelection,
    flag,
    option,
    with_option_groups,
)

if TYPE_CHECKING:
    from crosseval.data.loaders import Benchmark
    from crosseval.engine.export import ExportFormat
    from crosseval.engine.generation import GenerationConfig, GenerationSummary

EXIT_INCOMPLETE = 1


class FormatChoice(StrEnum):
    jsonl = "jsonl"
    parquet = "parquet"


class ExportWhat(StrEnum):
    generations = "generations"
    verdicts = "verdicts"


Exporter = Callable[[Path, "ExportFormat", Path | None, str | None], int]
"""(run dir, format, output file or None for stdout, judge configuration) -> rows written."""


def _export_generations(run_dir: Path, fmt: ExportFormat, out: Path | None, judge_config: str | None) -> int:
    from crosseval.engine.export import export_generations

    if judge_config is not None:
        fail("--judge-config applies to --what verdicts only")
    return export_generations(run_dir, fmt, out)


def _export_verdicts(run_dir: Path, fmt: ExportFormat, out: Path | None, judge_config: str | None) -> int:
    from crosseval.judge.export import export_verdicts

    return export_verdicts(run_dir, fmt, out, judge_config=judge_config)


EXPORTS: dict[ExportWhat, Exporter] = {
    ExportWhat.generations: _export_generations,
    ExportWhat.verdicts: _export_verdicts,
}
"""What `crosseval export --what` can write; each entry returns the number of rows written."""


def generate_or_exit(benchmark: Benchmark, run_dir: Path, config: GenerationConfig) -> GenerationSummary:
    """`run_generation` into `run_dir`; a Ctrl+C ends the command with 130 and says what is kept."""
    from crosseval.engine.generation import run_generation

    return run_interruptible(
        run_generation(
            benchmark.samples,
            run_dir,
            config,
            images_root=benchmark.images_root,
            dataset_files=benchmark.files,
        ),
        f"what arrived is stored in {run_dir}; run the same command again to send the rest",
    )


def _table(title: str, rows: Sequence[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    for label, value in rows:
        table.add_row(label, value)
    return table


def _request_rows(summary: GenerationSummary) -> list[tuple[str, str]]:
    return [
        ("requests (samples x rounds)", str(summary.requests)),
        ("already stored, skipped", str(summary.skipped_cached)),
    ]


def _summary_table(summary: GenerationSummary) -> Table:
    rows = [
        *_request_rows(summary),
        ("sent", str(summary.sent)),
        ("ok", str(summary.ok)),
        *((f"error: {kind}", str(count)) for kind, count in sorted(summary.errors.items())),
        *([("crashed (not stored)", str(summary.crashed))] if summary.crashed else []),
        ("retries", str(summary.retries)),
        ("tokens (prompt / completion)", f"{summary.prompt_tokens:,} / {summary.completion_tokens:,}"),
        ("wall time", f"{summary.wall_s:.1f} s"),
        ("run holds (ok / error / missing)", f"{summary.run_ok} / {summary.run_errors} / {summary.missing}"),
    ]
    return _table(f"generate {summary.model}", rows)


def _dry_run_table(summary: GenerationSummary) -> Table:
    estimate = summary.estimate
    assert estimate is not None
    bound = (
        f"{estimate.max_completion_tokens:,}" if estimate.max_completion_tokens is not None else "unbounded"
    )
    rows = [
        *_request_rows(summary),
        ("would send", str(estimate.requests)),
        *([("images that cannot be loaded (requests)", str(summary.error_count))] if summary.errors else []),
        ("est. prompt tokens: text (~4 chars/token)", f"{estimate.text_tokens:,}"),
        ("est. prompt tokens: images (OpenAI high-detail tiles)", f"{estimate.image_tokens:,}"),
        ("est. prompt tokens: total", f"{estimate.prompt_tokens:,}"),
        ("completion tokens, at most (--max-tokens)", bound),
    ]
    return _table(f"dry run: generate {summary.model} (nothing sent)", rows)


ERROR_KIND_HINTS: dict[str, str] = {
    "auth": "the server refused the API key: check CROSSEVAL_API_KEY / OPENAI_API_KEY (or the provider's key)",
    "image": "some images could not be loaded: `crosseval data validate` names each one",
    "too_large": "some requests were over the size limit: lower --max-image-side, or raise --max-request-mb",
    "bad_request": "the server rejected some requests as invalid: `crosseval export` shows its messages",
}
"""What to do about an error kind this command stored, when there is something to do."""


def error_hints(summary: GenerationSummary) -> list[str]:
    """Advice after a generation that left errors: what a kind of failure means, and how to send them again."""
    hints = [ERROR_KIND_HINTS[kind] for kind in sorted(summary.errors) if kind in ERROR_KIND_HINTS]
    if summary.run_errors:
        hints.append(
            f"{summary.run_errors} request(s) are stored as errors (never judged); add --retry-errors to send "
            "them again"
        )
    return hints


@with_option_groups
def generate(
    model: ModelOptions,
    selection: SampleSelection,
    retry: RetryOptions,
    dry_run: Annotated[
        bool, flag("--dry-run", help="Count requests and estimate tokens; send nothing.")
    ] = False,
    config: ConfigFileOption = None,
) -> None:
    """Ask a model every sample (x rounds) and store each answer or error; rerunning resumes.

    Each request is a row in RUN_DIR/run.sqlite; the same command on the same run sends only what is missing.

    Failures are stored as errors, never as answers; --retry-errors sends them again.
    """
    benchmark = selection.load(required=True)
    summary = generate_or_exit(benchmark, model.target, model.generation_config(retry, dry_run=dry_run))
    if dry_run:
        console.print(_dry_run_table(summary))
        return
    console.print(_summary_table(summary))
    console.print(f"run dir: {escape(str(summary.run_dir))}")
    for message in summary.crash_messages:
        err_console.print(f"[red]crashed[/]: {escape(message)}")
    for hint in error_hints(summary):
        err_console.print(f"[yellow]note:[/] {escape(hint)}")
    if summary.missing:
        fail(
            f"{summary.missing} requests have no stored outcome; run the same command again to retry them",
            code=EXIT_INCOMPLETE,
        )


def export(
    run_dir: Annotated[
        Path,
        typer.Argument(metavar="RUN_DIR", help="A run directory (holds run.sqlite).", show_default=False),
    ],
    what: Annotated[
        ExportWhat,
        option(
            "--what",
            metavar="ROWS",
            help="generations: one row per sample and round; verdicts: per dimension too.",
        ),
    ] = ExportWhat.generations,
    judge_config: Annotated[
        str | None,
        option(
            "--judge-config",
            metavar="NAME",
            when_unset="the only one",
            help="With --what verdicts: the judge configuration to export.",
        ),
    ] = None,
    fmt: Annotated[
        FormatChoice, option("--format", metavar="FORMAT", help="jsonl or parquet.")
    ] = FormatChoice.jsonl,
    out: Annotated[
        Path | None,
        option("--out", metavar="FILE", when_unset="stdout, for jsonl", help="File to write."),
    ] = None,
) -> None:
    """Write a run's generations or judge verdicts as JSONL or Parquet."""
    rows = EXPORTS[what](run_dir, cast("ExportFormat", fmt.value), out, judge_config)
    if out is not None:
        err_console.print(f"wrote {rows} rows to {escape(str(out))}")


GENERATE_EXAMPLES = examples(
    "crosseval generate --model openai/gpt-4o-mini --run-dir runs/gpt4o-mini --max-connections 64",
    "crosseval generate --model vllm/Qwen/Qwen2.5-VL-7B-Instruct --base-url http://gpu:8000/v1 --run-dir runs/qwen",
    "crosseval generate --model hf/llava-hf/llava-1.5-7b-hf --batch-size 16 --run-dir runs/llava  # in-process",
    "crosseval generate --model openai/o3 --reasoning-effort high --run-dir runs/o3-high",
)
EXPORT_EXAMPLES = examples(
    "crosseval export runs/qwen --what verdicts --format jsonl",
    "crosseval export runs/qwen --format parquet --out qwen-generations.parquet",
)


def register(app: typer.Typer) -> None:
    """Adds `generate` and `export` to the top-level app."""
    app.command("generate", epilog=GENERATE_EXAMPLES, rich_help_panel=COMMAND_PANEL_EVALUATE)(generate)
    app.command("export", epilog=EXPORT_EXAMPLES, rich_help_panel=COMMAND_PANEL_RESULTS)(export)
