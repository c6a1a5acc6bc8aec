"""`crosseval generate` (ask a model every sample, resumably) and `crosseval export` (a run's rows as a file)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, cast

import typer
import yaml
from rich.markup import escape
from rich.table import Table

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
    err_console,
    fail,
    load_benchmark_or_exit,
    make_filter,
)
from crosseval.data.images import ImageOptions
from crosseval.engine.export import ExportError, ExportFormat, export_generations
from crosseval.engine.generation import (
    GenerationConfig,
    GenerationConfigError,
    GenerationSummary,
    run_generation,
)
from crosseval.engine.manifest import ManifestError
from crosseval.engine.retry import RetryPolicy
from crosseval.models.errors import ConfigError
from crosseval.models.types import GenerationParams, ReasoningEffort

EXIT_INCOMPLETE = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


class ReasoningEffortChoice(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class FormatChoice(StrEnum):
    jsonl = "jsonl"
    parquet = "parquet"


class ExportWhat(StrEnum):
    generations = "generations"


Exporter = Callable[[Path, ExportFormat, Path | None], int]
EXPORTS: dict[ExportWhat, Exporter] = {ExportWhat.generations: export_generations}
"""What `crosseval export --what` can write; each entry returns the number of rows written."""


def default_run_dir(model: str, today: date | None = None) -> Path:
    """`runs/<date>-<model-slug>`, e.g. `runs/2026-11-20-openai-gpt-4o-mini`."""
    slug = re.sub(r"[^a-z0-9.]+", "-", model.lower()).strip("-") or "model"
    return Path("runs") / f"{(today or date.today()).isoformat()}-{slug}"


def load_config_defaults(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Eager `--config` callback: the YAML's values become the defaults, so explicit flags still win.

    Keys are flag names with or without the leading dashes, in either `max-connections` or
    `max_connections` spelling.
    """
    if value is None:
        return None
    try:
        loaded = yaml.safe_load(value.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise typer.BadParameter(f"cannot read {value}: {exc}", param_hint="--config") from exc
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise typer.BadParameter(
            f"{value}: expected a mapping of flag names to values", param_hint="--config"
        )
    names = {p.name for p in ctx.command.params if p.name and p.name != "config"}
    defaults: dict[str, Any] = {}
    for raw_key, setting in loaded.items():
        key = str(raw_key).lstrip("-").replace("-", "_")
        key = {"id": "ids"}.get(key, key)
        if key not in names:
            raise typer.BadParameter(
                f"{value}: unknown setting {raw_key!r}; known: {', '.join(sorted(names))}",
                param_hint="--config",
            )
        defaults[key] = setting
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


def _summary_table(summary: GenerationSummary) -> Table:
    table = Table(title=f"generate {summary.model}", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("requests (samples x rounds)", str(summary.requests))
    table.add_row("already stored, skipped", str(summary.skipped_cached))
    table.add_row("sent", str(summary.sent))
    table.add_row("ok", str(summary.ok))
    for kind, count in sorted(summary.errors.items()):
        table.add_row(f"error: {kind}", str(count))
    if summary.crashed:
        table.add_row("crashed (not stored)", str(summary.crashed))
    table.add_row("retries", str(summary.retries))
    table.add_row(
        "tokens (prompt / completion)", f"{summary.prompt_tokens:,} / {summary.completion_tokens:,}"
    )
    table.add_row("wall time", f"{summary.wall_s:.1f} s")
    table.add_row(
        "run holds (ok / error / missing)", f"{summary.run_ok} / {summary.run_errors} / {summary.missing}"
    )
    return table


def _print_dry_run(summary: GenerationSummary) -> None:
    estimate = summary.estimate
    assert estimate is not None
    table = Table(
        title=f"dry run: generate {summary.model} (nothing sent)", show_header=False, title_justify="left"
    )
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("requests (samples x rounds)", str(summary.requests))
    table.add_row("already stored, skipped", str(summary.skipped_cached))
    table.add_row("would send", str(estimate.requests))
    if summary.errors:
        table.add_row("images that cannot be loaded (requests)", str(summary.error_count))
    table.add_row("est. prompt tokens: text (~4 chars/token)", f"{estimate.text_tokens:,}")
    table.add_row("est. prompt tokens: images (OpenAI high-detail tiles)", f"{estimate.image_tokens:,}")
    table.add_row("est. prompt tokens: total", f"{estimate.prompt_tokens:,}")
    bound = (
        f"{estimate.max_completion_tokens:,}" if estimate.max_completion_tokens is not None else "unbounded"
    )
    table.add_row("completion tokens, at most (--max-tokens)", bound)
    console.print(table)


def generate(
    model: Annotated[str, typer.Option("--model", help="provider/model, e.g. openai/gpt-4o-mini, hf/DIR.")],
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
        typer.Option("--run-dir", help="Run directory; default runs/<date>-<model>. The same dir resumes."),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint (vLLM, Ollama, ...).")
    ] = None,
    max_connections: Annotated[
        int, typer.Option("--max-connections", min=1, help="Requests in flight.")
    ] = 32,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Independent responses per sample.")] = 3,
    temperature: Annotated[float | None, typer.Option("--temperature", help="Default: the model's.")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", help="Default: the model's.")] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", min=1, help="Default: the model's.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    reasoning_effort: Annotated[
        ReasoningEffortChoice | None, typer.Option("--reasoning-effort", help="Reasoning models.")
    ] = None,
    adapter: Annotated[Path | None, typer.Option("--adapter", help="PEFT adapter folder (hf, vllm).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Batch size of local backends.")] = 8,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="Send stored errors again.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count requests and estimate tokens; send nothing.")
    ] = False,
    max_attempts: Annotated[int, typer.Option("--max-attempts", min=1, help="Attempts per request.")] = 6,
    timeout: Annotated[float, typer.Option("--timeout", min=0.001, help="Seconds per attempt.")] = 120.0,
    retry_base_delay: Annotated[
        float,
        typer.Option(
            "--retry-base-delay", min=0.0, help="First backoff ceiling, seconds (doubles per retry)."
        ),
    ] = 1.0,
    max_image_side: Annotated[
        int, typer.Option("--max-image-side", min=16, help="Longest image side, px.")
    ] = 1536,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Live progress bar on stderr.")
    ] = True,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            is_eager=True,
            callback=load_config_defaults,
            help="YAML file holding any of these flags; explicit flags win.",
        ),
    ] = None,
) -> None:
    """Ask a model every sample (x rounds) and store each answer or error; rerunning resumes."""
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
        fail("no samples match the filters")
    generation_config = GenerationConfig(
        model=model,
        base_url=base_url,
        params=GenerationParams(
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            seed=seed,
            reasoning_effort=cast(
                ReasoningEffort | None, reasoning_effort.value if reasoning_effort else None
            ),
        ),
        rounds=rounds,
        max_connections=max_connections,
        retry=RetryPolicy(
            max_attempts=max_attempts,
            base_delay_s=retry_base_delay,
            attempt_timeout_s=timeout,
            total_timeout_s=max(600.0, timeout),
        ),
        image_options=ImageOptions(max_side=max_image_side),
        adapter=adapter,
        batch_size=batch_size,
        retry_errors=retry_errors,
        dry_run=dry_run,
        show_progress=progress,
    )
    target = run_dir or default_run_dir(model)
    try:
        summary = asyncio.run(
            run_generation(
                benchmark.samples,
                target,
                generation_config,
                images_root=benchmark.images_root,
                dataset_files=benchmark.files,
            )
        )
    except (ConfigError, GenerationConfigError, ManifestError) as exc:
        fail(str(exc), code=EXIT_CONFIG)
    except KeyboardInterrupt:
        err_console.print(
            f"[yellow]interrupted[/]: what arrived is stored in {escape(str(target))}; "
            "run the same command again to send the rest"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if dry_run:
        _print_dry_run(summary)
        return
    console.print(_summary_table(summary))
    console.print(f"run dir: {escape(str(summary.run_dir))}")
    for message in summary.crash_messages:
        err_console.print(f"[red]crashed[/]: {escape(message)}")
    if summary.missing:
        fail(
            f"{summary.missing} requests have no stored outcome; run the same command again to retry them",
            code=EXIT_INCOMPLETE,
        )


def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (holds run.sqlite).", show_default=False)],
    what: Annotated[
        ExportWhat, typer.Option("--what", help="Which rows to export.")
    ] = ExportWhat.generations,
    fmt: Annotated[FormatChoice, typer.Option("--format", help="Output format.")] = FormatChoice.jsonl,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output file; JSONL goes to stdout without it.", show_default=False),
    ] = None,
) -> None:
    """Write a run's rows (one per sample and round) as JSONL or Parquet."""
    exporter = EXPORTS[what]
    try:
        rows = exporter(run_dir, cast(ExportFormat, str(fmt)), out)
    except ExportError as exc:
        fail(str(exc))
    if out is not None:
        err_console.print(f"wrote {rows} rows to {escape(str(out))}")


def register(app: typer.Typer) -> None:
    """Adds `generate` and `export` to the top-level app."""
    app.command("generate")(generate)
    app.command("export")(export)
