"""`crosseval judge` (judge a run's stored responses) and `crosseval run` (generate, judge, report)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from crosseval.cli.common import console, fail, run_interruptible
from crosseval.cli.helptext import COMMAND_PANEL_EVALUATE, PANEL_CONCURRENCY, examples
from crosseval.cli.options import (
    ConfigFileOption,
    ImagesOption,
    JudgeOptions,
    ModelOptions,
    RetryOptions,
    SampleSelection,
    data_option,
    option,
    with_option_groups,
)

if TYPE_CHECKING:
    from crosseval.data.loaders import Benchmark
    from crosseval.engine.generation import GenerationConfig, GenerationSummary
    from crosseval.judge.runner import JudgeConfig, JudgeSummary


def _images_root(data: list[Path] | None, images: Path | None) -> Path | None:
    """The images root for re-loading a run's images: --images, else what --data provides."""
    if images is not None or not data:
        return images
    return SampleSelection(data=data).load().images_root


def _judge_or_exit(
    run_dir: Path, config: JudgeConfig, images_root: Path | None, retry_errors: bool
) -> JudgeSummary:
    """`run_judging`; a Ctrl+C ends the command with 130 and says what is kept."""
    from crosseval.judge.runner import run_judging

    return run_interruptible(
        run_judging(run_dir, config, images_root=images_root, retry_errors=retry_errors),
        f"what was judged is stored; rerun the same command to finish {run_dir}",
    )


@with_option_groups
def judge(
    run_dir: Annotated[
        Path, typer.Argument(metavar="RUN_DIR", help="The run directory to judge.", show_default=False)
    ],
    options: JudgeOptions,
    retry: RetryOptions,
    max_connections: Annotated[
        int,
        option(
            "--max-connections", metavar="N", panel=PANEL_CONCURRENCY, min=1, help="Judge requests in flight."
        ),
    ] = 32,
    data: Annotated[
        list[Path] | None,
        data_option(help="Where the run's data is now, if it moved since generation; repeatable."),
    ] = None,
    images: ImagesOption = None,
    config: ConfigFileOption = None,
) -> None:
    """Judge a run's stored responses with CROSS-Eval (awareness, education, violation, helpfulness).

    Resumable: the same command on the same run sends only what is missing.

    Failed generations are never judged. Unreadable verdicts are stored as parse_error, never scored.
    """
    judge_config = options.judge_config(max_connections, retry)
    summary = _judge_or_exit(run_dir, judge_config, _images_root(data, images), retry.retry_errors)
    print_judge_summary(summary)
    fail_when_nothing_scored(summary)
    if summary.crashed:
        raise typer.Exit(1)


def print_judge_summary(summary: JudgeSummary) -> None:
    """The judge phase in a few lines: what was asked, what came back, what it cost."""
    console.print(f"[bold]Judge[/] {escape(summary.judge_config)}")
    skipped = (
        f", {summary.failed_generations} failed generation(s) not judged"
        if summary.failed_generations
        else ""
    )
    console.print(
        f"  {summary.responses} response(s) x 4 dimensions = {summary.expected} verdicts{skipped}; "
        f"{summary.cached} already stored, {summary.sent} job(s) sent in {summary.wall_s:.1f} s"
    )
    if summary.new:
        console.print("  this run:   " + _counts(summary.new))
    console.print(
        "  in the run: "
        + _counts(summary.stored)
        + (f", {summary.missing} missing" if summary.missing > 0 else "")
    )
    console.print(
        f"  judge tokens: {summary.prompt_tokens} prompt + {summary.completion_tokens} completion ({summary.retries} retries)"
    )
    for warning in summary.warnings[:5]:
        console.print(f"  [yellow]warning:[/] {escape(warning)}")
    if len(summary.warnings) > 5:
        console.print(f"  [yellow]... and {len(summary.warnings) - 5} more warnings[/]")
    _print_crashes(summary.crash_messages)


def fail_when_nothing_scored(summary: JudgeSummary) -> None:
    """Exit 1 when the judge answered every verdict yet none could be scored (a wrong model, endpoint or rubric).

    The verdicts stay stored with their statuses; the message quotes one of them so the cause shows.
    """
    from crosseval.engine.store import RunStore

    if summary.expected == 0 or summary.stored.get("ok", 0) or summary.missing:
        return
    with RunStore.open_for_reading(summary.run_dir) as store:
        example = next(iter(store.verdicts(summary.judge_config)), None)
    quoted = ""
    if example is not None:
        text = " ".join((example.raw or example.error or "").split())
        text = text if len(text) <= 200 else text[:199] + "…"
        quoted = f"; e.g. {example.sample_id} {example.dimension}: {example.status}, {text!r}"
    fail(
        f"the judge returned no usable verdict ({_counts(summary.stored)}){quoted}. They are stored, not "
        "scored: check --judge, --judge-base-url and --rubric (--retry-errors asks again for parse_error "
        "and api_error verdicts)",
        code=1,
    )


def _print_crashes(messages: list[str]) -> None:
    for message in messages:
        console.print(f"  [red]crashed job:[/] {escape(message)}")


def _counts(counts: dict[str, int]) -> str:
    order = ["ok", "parse_error", "api_error", "refused"]
    keys = [k for k in order if counts.get(k)] + sorted(k for k in counts if k not in order and counts[k])
    return ", ".join(f"{counts[k]} {k}" for k in keys) or "none"


def print_generation_summary(summary: GenerationSummary) -> None:
    console.print(f"[bold]Generate[/] {escape(summary.model)}")
    console.print(
        f"  {summary.requests} request(s): {summary.skipped_cached} already stored, {summary.sent} sent "
        f"in {summary.wall_s:.1f} s ({summary.retries} retries)"
    )
    errors = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.errors.items()))
    console.print(
        f"  in the run: {summary.run_ok} ok, {summary.run_errors} error(s)"
        + (f" (this run: {errors})" if errors else "")
        + (f", {summary.missing} missing" if summary.missing else "")
    )
    console.print(f"  model tokens: {summary.prompt_tokens} prompt + {summary.completion_tokens} completion")
    _print_crashes(summary.crash_messages)


@with_option_groups
def run(
    model: ModelOptions,
    judge_options: JudgeOptions,
    selection: SampleSelection,
    retry: RetryOptions,
    judge_max_connections: Annotated[
        int | None,
        option(
            "--judge-max-connections",
            metavar="N",
            panel=PANEL_CONCURRENCY,
            min=1,
            when_unset="--max-connections",
            help="Judge requests in flight.",
        ),
    ] = None,
    config: ConfigFileOption = None,
) -> None:
    """Generate responses, judge them, and print the CROSS-Eval table: the whole benchmark in one command.

    Rerunning the same command resumes: only missing responses and verdicts are requested.

    Keys come from the environment: CROSSEVAL_API_KEY (or OPENAI_API_KEY); CROSSEVAL_JUDGE_API_KEY for the judge.
    """
    from crosseval.cli.report_cmd import print_terminal_report
    from crosseval.report.summary import build_report

    judge_config = judge_options.judge_config(judge_max_connections or model.max_connections, retry)
    benchmark = selection.load(required=True)
    generation_config = model.generation_config(retry)
    target = model.target
    console.print(
        f"[bold]crosseval run[/]: {len(benchmark.samples)} sample(s) x {model.rounds} round(s), "
        f"model {escape(model.model)}, judge {escape(judge_options.judge)} ({judge_config.protocol}), "
        f"run dir {escape(str(target))}"
    )
    generated, judged = run_interruptible(
        _generate_and_judge(benchmark, target, generation_config, judge_config, retry.retry_errors),
        f"what arrived is stored in {target}; run the same command again to finish",
    )
    report = build_report([target], judge_config=judged.judge_config)
    console.print()
    print_terminal_report(report, summary_only=True)
    console.print(
        f"Run directory: [bold]{escape(str(target))}[/] (report again: crosseval report {escape(str(target))})"
    )
    if generated.crashed or judged.crashed:
        raise typer.Exit(1)


async def _generate_and_judge(
    benchmark: Benchmark,
    target: Path,
    generation_config: GenerationConfig,
    judge_config: JudgeConfig,
    retry_errors: bool,
) -> tuple[GenerationSummary, JudgeSummary]:
    """Generation, then judging, with the judge opened first: a judge that cannot work stops the command
    before the first model request."""
    from crosseval.engine.generation import run_generation
    from crosseval.judge.runner import run_judging
    from crosseval.models.registry import open_backend

    async with open_backend(judge_config.backend) as judge_backend:
        generated = await run_generation(
            benchmark.samples,
            target,
            generation_config,
            images_root=benchmark.images_root,
            dataset_files=benchmark.files,
        )
        print_generation_summary(generated)
        if generated.run_ok == 0:
            fail(
                f"no successful responses in {target}: nothing to judge (see `crosseval export {target}`)",
                code=1,
            )
        judged = await run_judging(
            target,
            judge_config,
            images_root=benchmark.images_root,
            retry_errors=retry_errors,
            backend=judge_backend,
        )
    print_judge_summary(judged)
    fail_when_nothing_scored(judged)
    return generated, judged


JUDGE_EXAMPLES = examples(
    "crosseval judge runs/qwen --judge openai/gpt-4o-2024-08-06  # paper protocol: 4 calls per answer",
    "crosseval judge runs/qwen --judge openai/gpt-4o-2024-08-06 --protocol single",
)
RUN_EXAMPLES = examples(
    "crosseval run --model openai/gpt-4o-mini --judge openai/gpt-4o-2024-08-06 --limit 50",
    "crosseval run --model hf/path/to/vlm --judge openai/gpt-4o-2024-08-06 --run-dir runs/base",
    "crosseval run --model hf/path/to/vlm --adapter adapters/sft --judge openai/gpt-4o-2024-08-06 "
    "--run-dir runs/tuned",
)


def register(app: typer.Typer) -> None:
    """Adds `judge` and `run` to the top-level app."""
    app.command("judge", epilog=JUDGE_EXAMPLES, rich_help_panel=COMMAND_PANEL_EVALUATE)(judge)
    app.command("run", epilog=RUN_EXAMPLES, rich_help_panel=COMMAND_PANEL_EVALUATE)(run)
