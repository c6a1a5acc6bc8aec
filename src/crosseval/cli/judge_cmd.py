"""`crosseval judge` (judge a run's stored responses) and `crosseval run` (generate, judge, report)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, cast, get_args

import typer
from rich.markup import escape

from crosseval.cli.common import (
    CountryOption,
    DataOption,
    IdOption,
    ImagesOption,
    LanguageOption,
    LimitOption,
    SettingOption,
    SubsetOption,
    VariantOption,
    console,
    fail,
    load_benchmark_or_exit,
    make_filter,
)
from crosseval.cli.generate_cmd import default_run_dir, load_config_defaults
from crosseval.data.images import ImageOptions
from crosseval.engine.generation import (
    GenerationConfig,
    GenerationConfigError,
    GenerationSummary,
    run_generation,
)
from crosseval.engine.manifest import ManifestError
from crosseval.engine.retry import RetryPolicy
from crosseval.judge.rubrics import PROTOCOLS, Protocol, RubricError, load_rubric_set
from crosseval.judge.runner import JudgeConfig, JudgeInputError, JudgeSummary, run_judging
from crosseval.metrics.runs import RunInputError
from crosseval.models.errors import ConfigError
from crosseval.models.registry import BackendConfig, create_backend
from crosseval.models.types import GenerationParams, ModelBackend, ReasoningEffort
from crosseval.report.summary import build_report
from crosseval.report.tables import render_markdown

JudgeOption = Annotated[
    str,
    typer.Option(
        "--judge",
        help="The judge, as provider/model (the paper: openai/gpt-4o-2024-08-06).",
        show_default=False,
    ),
]
JudgeBaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--judge-base-url",
        help="OpenAI-compatible endpoint for the judge (key from CROSSEVAL_JUDGE_API_KEY, else the model's).",
        show_default=False,
    ),
]
ProtocolOption = Annotated[
    str,
    typer.Option(
        "--protocol",
        help="paper: four calls per response, one per dimension (as in the paper); single: one JSON call.",
    ),
]
RubricOption = Annotated[
    Path | None,
    typer.Option(
        "--rubric",
        help="A rubric set directory of your own (same files as the built-in one); default: the built-in set.",
        show_default=False,
    ),
]
MaxReasksOption = Annotated[
    int,
    typer.Option(
        "--max-reasks", min=0, help="Follow-ups asking for the final 0 or 1 when a verdict is unreadable."
    ),
]
RetryErrorsOption = Annotated[
    bool, typer.Option("--retry-errors", help="Ask again for what is stored as failed (API or parse errors).")
]
ProgressOption = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show live progress on stderr.")
]
TimeoutOption = Annotated[float, typer.Option("--timeout", min=1.0, help="Seconds allowed for one attempt.")]
ConfigFileOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        is_eager=True,
        callback=load_config_defaults,
        help="YAML file holding any of these flags; explicit flags win.",
        show_default=False,
    ),
]
MaxAttemptsOption = Annotated[
    int, typer.Option("--max-attempts", min=1, help="Attempts per request, retries included.")
]


def _protocol(value: str) -> Protocol:
    if value not in PROTOCOLS:
        fail(f"unknown --protocol {value!r}: use one of {', '.join(PROTOCOLS)}")
    return cast(Protocol, value)


def _images_root(data: list[Path] | None, images: Path | None) -> Path | None:
    """The images root for re-loading a run's images: --images, else what --data provides."""
    if images is not None or not data:
        return images
    return load_benchmark_or_exit(data, None).images_root


def judge(
    run_dir: Annotated[Path, typer.Argument(help="The run directory to judge.", show_default=False)],
    judge: JudgeOption,
    judge_base_url: JudgeBaseUrlOption = None,
    protocol: ProtocolOption = "paper",
    rubric: RubricOption = None,
    max_connections: Annotated[
        int, typer.Option("--max-connections", min=1, help="Judge requests in flight.")
    ] = 32,
    max_reasks: MaxReasksOption = 2,
    retry_errors: RetryErrorsOption = False,
    data: DataOption = None,
    images: ImagesOption = None,
    timeout: TimeoutOption = 120.0,
    max_attempts: MaxAttemptsOption = 6,
    progress: ProgressOption = True,
    config_file: ConfigFileOption = None,
) -> None:
    """Judge a run's stored responses with CROSS-Eval (awareness, education, violation, helpfulness).

    Resumable: the same command on the same run sends only what is missing. Failed generations are
    never judged. --data/--images say where the run's images are when they moved since generation.
    """
    config = JudgeConfig(
        judge=judge,
        base_url=judge_base_url,
        protocol=_protocol(protocol),
        rubric_dir=rubric,
        max_connections=max_connections,
        policy=RetryPolicy(max_attempts=max_attempts, attempt_timeout_s=timeout),
        max_reasks=max_reasks,
        show_progress=progress,
    )
    summary = _judge_or_exit(run_dir, config, _images_root(data, images), retry_errors)
    print_judge_summary(summary)
    if summary.crashed:
        raise typer.Exit(1)


def _judge_or_exit(
    run_dir: Path,
    config: JudgeConfig,
    images_root: Path | None,
    retry_errors: bool,
    backend: ModelBackend | None = None,
) -> JudgeSummary:
    """`run_judging` with its errors printed as messages; a given `backend` is closed afterwards."""

    async def judge_and_close() -> JudgeSummary:
        try:
            return await run_judging(
                run_dir, config, images_root=images_root, retry_errors=retry_errors, backend=backend
            )
        finally:
            if backend is not None:
                await backend.aclose()

    try:
        return asyncio.run(judge_and_close())
    except (JudgeInputError, ManifestError) as exc:
        fail(str(exc), code=1)
    except (RubricError, ConfigError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail(f"interrupted: what was judged is stored; rerun the same command to finish {run_dir}", code=130)


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
    for message in summary.crash_messages:
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
    for message in summary.crash_messages:
        console.print(f"  [red]crashed job:[/] {escape(message)}")


def _close(backend: ModelBackend) -> None:
    asyncio.run(backend.aclose())


def run(
    model: Annotated[
        str, typer.Option("--model", help="The model under test, as provider/model.", show_default=False)
    ],
    judge: JudgeOption,
    data: DataOption = None,
    images: ImagesOption = None,
    subset: SubsetOption = None,
    setting: SettingOption = None,
    country: CountryOption = None,
    language: LanguageOption = None,
    variant: VariantOption = None,
    ids: IdOption = None,
    limit: LimitOption = None,
    run_dir: Annotated[
        Path | None,
        typer.Option(
            "--run-dir",
            help="Where the run lives (default runs/<date>-<model>); reruns resume.",
            show_default=False,
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="OpenAI-compatible endpoint for the model.", show_default=False),
    ] = None,
    judge_base_url: JudgeBaseUrlOption = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Responses per sample (the paper: 3).")] = 3,
    protocol: ProtocolOption = "paper",
    rubric: RubricOption = None,
    max_connections: Annotated[
        int, typer.Option("--max-connections", min=1, help="Model requests in flight.")
    ] = 32,
    judge_max_connections: Annotated[
        int | None,
        typer.Option(
            "--judge-max-connections",
            min=1,
            help="Judge requests in flight (default: --max-connections).",
            show_default=False,
        ),
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option(
            "--temperature", help="Model sampling temperature (default: the model's).", show_default=False
        ),
    ] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", show_default=False)] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, show_default=False)] = None,
    seed: Annotated[int | None, typer.Option("--seed", show_default=False)] = None,
    reasoning_effort: Annotated[
        str | None,
        typer.Option(
            "--reasoning-effort", help="low, medium or high (reasoning models).", show_default=False
        ),
    ] = None,
    max_side: Annotated[
        int, typer.Option("--max-side", min=64, help="Longest image side sent, in pixels.")
    ] = ImageOptions().max_side,
    adapter: Annotated[
        Path | None, typer.Option("--adapter", help="PEFT adapter folder (hf/ models).", show_default=False)
    ] = None,
    max_reasks: MaxReasksOption = 2,
    retry_errors: RetryErrorsOption = False,
    timeout: TimeoutOption = 120.0,
    max_attempts: MaxAttemptsOption = 6,
    progress: ProgressOption = True,
    config_file: ConfigFileOption = None,
) -> None:
    """Generate responses, judge them, and print the CROSS-Eval table: the whole benchmark in one command.

    Rerunning the same command resumes: only missing responses and verdicts are requested.
    """
    judge_protocol = _protocol(protocol)
    if reasoning_effort is not None and reasoning_effort not in get_args(ReasoningEffort):
        fail(f"unknown --reasoning-effort {reasoning_effort!r}: use low, medium or high")
    benchmark = load_benchmark_or_exit(
        data,
        images,
        make_filter(
            subset=subset,
            setting=setting,
            country=country,
            language=language,
            variant=variant,
            ids=ids,
            limit=limit,
        ),
    )
    if not benchmark.samples:
        fail("no samples match the filters: nothing to run")
    target = run_dir or default_run_dir(model)
    policy = RetryPolicy(max_attempts=max_attempts, attempt_timeout_s=timeout)
    generation_config = GenerationConfig(
        model=model,
        base_url=base_url,
        params=GenerationParams(
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            seed=seed,
            reasoning_effort=reasoning_effort,  # type: ignore[arg-type]
        ),
        rounds=rounds,
        max_connections=max_connections,
        retry=policy,
        image_options=ImageOptions(max_side=max_side),
        adapter=adapter,
        retry_errors=retry_errors,
        show_progress=progress,
    )
    judge_config = JudgeConfig(
        judge=judge,
        base_url=judge_base_url,
        protocol=judge_protocol,
        rubric_dir=rubric,
        max_connections=judge_max_connections or max_connections,
        policy=policy,
        max_reasks=max_reasks,
        show_progress=progress,
    )
    # Everything that can be wrong with the judge is checked before the first model request.
    try:
        load_rubric_set(rubric, judge_protocol)
        judge_backend = create_backend(
            BackendConfig(
                model=judge,
                base_url=judge_base_url,
                role="judge",
                timeout_s=timeout,
                max_connections=judge_config.max_connections,
            )
        )
    except (RubricError, ConfigError) as exc:
        fail(str(exc))
    console.print(
        f"[bold]crosseval run[/]: {len(benchmark.samples)} sample(s) x {rounds} round(s), "
        f"model {escape(model)}, judge {escape(judge)} ({judge_protocol}), run dir {escape(str(target))}"
    )

    try:
        generated = asyncio.run(
            run_generation(
                benchmark.samples,
                target,
                generation_config,
                images_root=benchmark.images_root,
                dataset_files=benchmark.files,
            )
        )
    except (GenerationConfigError, ManifestError) as exc:
        _close(judge_backend)
        fail(str(exc), code=1)
    except ConfigError as exc:
        _close(judge_backend)
        fail(str(exc))
    except KeyboardInterrupt:
        _close(judge_backend)
        fail(
            f"interrupted: what was generated is stored; rerun the same command to resume {target}", code=130
        )
    print_generation_summary(generated)
    if generated.run_ok == 0:
        _close(judge_backend)
        fail(
            f"no successful responses in {target}: nothing to judge (see `crosseval export {target}`)", code=1
        )

    judged = _judge_or_exit(target, judge_config, benchmark.images_root, retry_errors, backend=judge_backend)
    print_judge_summary(judged)

    try:
        report = build_report([target], judge_config=judged.judge_config)
    except RunInputError as exc:
        fail(str(exc), code=1)
    console.print()
    typer.echo(render_markdown(report))
    console.print(
        f"Run directory: [bold]{escape(str(target))}[/] (report again: crosseval report {escape(str(target))})"
    )
    if generated.crashed or judged.crashed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Adds `judge` and `run` to the top-level app."""
    app.command("judge")(judge)
    app.command("run")(run)
