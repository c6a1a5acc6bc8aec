"""`crosseval align ...` (datasets, exports, capability check) and `crosseval train sft|dpo`."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer

from crosseval.align.builders import BuildOptions, SplitChoice, build_cvqa_sft, build_upstream_import
from crosseval.align.dataset import DatasetCard, SourceFile
from crosseval.align.errors import AlignError
from crosseval.align.exports import export
from crosseval.align.grounded import (
    GroundingModels,
    build_dpo_from_run,
    build_dpo_from_teacher,
    build_safety_sft,
    scenarios_from_norms,
)
from crosseval.align.leakage import LeakageGuard, local_image_sha256
from crosseval.align.norms import read_norms
from crosseval.align.records_io import file_sha256
from crosseval.align.vqa_check import VqaResult, read_vqa_file, vqa_accuracy
from crosseval.cli.common import DataOption, ImagesOption, console, fail, load_benchmark_or_exit
from crosseval.engine.retry import RetryPolicy
from crosseval.judge.protocols import JudgeSettings
from crosseval.judge.rubrics import RubricError, load_rubric_set
from crosseval.models.registry import BackendConfig, ConfigError, create_backend
from crosseval.models.types import ModelBackend

align_app = typer.Typer(help="Build culturally grounded SFT/DPO data, export it, check capability retention.")
train_app = typer.Typer(help="Fine-tune a vision-language model on a dataset folder (TRL; LoRA by default).")

T = TypeVar("T")

OutOption = Annotated[Path, typer.Option("--out", help="The dataset folder to write.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace --out if it exists.")]
NoGuardOption = Annotated[
    bool,
    typer.Option(
        "--no-leakage-check", help="Skip the CROSS leakage guard (the card then says 'not checked')."
    ),
]
TeacherOption = Annotated[
    str | None, typer.Option("--teacher", help="Teacher model, provider/model.", show_default=False)
]
TeacherUrlOption = Annotated[
    str | None, typer.Option("--teacher-base-url", help="Teacher endpoint URL.", show_default=False)
]
JudgeOption = Annotated[str, typer.Option("--judge", help="CROSS-Eval judge model, provider/model.")]
JudgeUrlOption = Annotated[
    str | None, typer.Option("--judge-base-url", help="Judge endpoint URL.", show_default=False)
]
ProtocolOption = Annotated[str, typer.Option("--protocol", help="Judge protocol: paper (4 calls) or single.")]
RubricOption = Annotated[
    Path | None,
    typer.Option("--rubric", help="A judge rubric folder (default: built-in).", show_default=False),
]
ConnectionsOption = Annotated[int, typer.Option("--max-connections", min=1, help="Requests in flight.")]
AttemptsOption = Annotated[int, typer.Option("--max-attempts", min=1, help="Attempts per request.")]


def _command_line(ctx: typer.Context) -> str:
    """The command with its arguments and options, for the card (no secrets: keys come from the environment)."""
    positional: list[str] = []
    options: list[str] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if value is None or value is False or value == [] or value == ():
            continue
        values = value if isinstance(value, list | tuple) else [value]
        if param.param_type_name == "argument":
            positional += [str(v) for v in values]
            continue
        flag = param.opts[0]
        for item in values:
            options += [flag] if item is True else [flag, str(item)]
    return shlex.join([*ctx.command_path.split(), *positional, *options])


def _guard(data: list[Path] | None, images: Path | None, skip: bool) -> LeakageGuard | None:
    if skip:
        console.print("[yellow]leakage guard off:[/] items are not checked against CROSS")
        return None
    benchmark = load_benchmark_or_exit(data, images)
    return LeakageGuard.from_samples(benchmark.samples, image_sha256=local_image_sha256(benchmark.samples))


def _run(step: Callable[[], T]) -> T:
    try:
        return step()
    except AlignError as exc:
        fail(str(exc), code=1)


def _backend(model: str, base_url: str | None, role: Literal["model", "judge"], **extra: Any) -> ModelBackend:
    try:
        return create_backend(BackendConfig(model=model, base_url=base_url, role=role, **extra))
    except ConfigError as exc:
        fail(f"{'--judge' if role == 'judge' else '--teacher/--model'}: {exc}")


def _models(
    teacher: str | None,
    teacher_base_url: str | None,
    judge: str,
    judge_base_url: str | None,
    protocol: str,
    rubric: Path | None,
    max_connections: int,
    max_attempts: int,
) -> GroundingModels:
    if protocol not in ("paper", "single"):
        fail(f"--protocol must be paper or single, got {protocol!r}")
    try:
        rubric_set = load_rubric_set(rubric, protocol)  # type: ignore[arg-type]
    except RubricError as exc:
        fail(f"--rubric: {exc}")
    return GroundingModels(
        judge=_backend(judge, judge_base_url, "judge"),
        settings=JudgeSettings(protocol=protocol, rubric=rubric_set),  # type: ignore[arg-type]
        teacher=_backend(teacher, teacher_base_url, "model") if teacher else None,
        policy=RetryPolicy(max_attempts=max_attempts),
        max_connections=max_connections,
        show_progress=True,
    )


def _run_async(models: GroundingModels | None, build: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        try:
            return await build()
        finally:
            if models is not None:
                await models.judge.aclose()
                if models.teacher is not None:
                    await models.teacher.aclose()

    return _run(lambda: asyncio.run(main()))


def _report(card: DatasetCard, out: Path) -> None:
    console.print(f"wrote {card.examples} {card.kind.upper()} examples to {out}")
    if card.leakage.guard is not None:
        console.print(f"leakage guard removed {card.leakage.removed} items")
    if card.rejected.total:
        reasons = ", ".join(f"{k}: {v}" for k, v in card.rejected.by_reason.items())
        console.print(f"rejected {card.rejected.total} candidates ({reasons})")


@align_app.command("cvqa")
def cvqa_cmd(
    ctx: typer.Context,
    files: Annotated[
        list[Path], typer.Argument(help="CVQA-format files (local, with country) or upstream cvqa_sft JSONL.")
    ],
    out: OutOption,
    split: Annotated[
        str, typer.Option("--split", help="overlapped (CROSS countries), exclusive, or all.")
    ] = "all",
    images_root: Annotated[
        Path | None, typer.Option("--images-root", help="Folder holding images given by URL (by file name).")
    ] = None,
    data: DataOption = None,
    images: ImagesOption = None,
    no_leakage_check: NoGuardOption = False,
    overwrite: OverwriteOption = False,
) -> None:
    """Visual multiple-choice SFT data from CVQA-style questions, split by country."""
    if split not in ("overlapped", "exclusive", "all"):
        fail(f"--split must be overlapped, exclusive or all, got {split!r}")
    options = BuildOptions(out, _guard(data, images, no_leakage_check), _command_line(ctx), overwrite)
    chosen: SplitChoice = split  # type: ignore[assignment]
    card = _run(lambda: build_cvqa_sft(files, options, split=chosen, images_root=images_root))
    _report(card, out)


@align_app.command("import")
def import_cmd(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Upstream safety_sft JSONL files.")],
    out: OutOption,
    data: DataOption = None,
    images: ImagesOption = None,
    no_leakage_check: NoGuardOption = False,
    overwrite: OverwriteOption = False,
) -> None:
    """Import the upstream text-only safety SFT files into a dataset folder."""
    options = BuildOptions(out, _guard(data, images, no_leakage_check), _command_line(ctx), overwrite)
    card = _run(lambda: build_upstream_import(files, options))
    _report(card, out)


@align_app.command("safety")
def safety_cmd(
    ctx: typer.Context,
    norms: Annotated[Path, typer.Argument(help="Norms file (JSONL/JSON/CSV: norm, country, item, scene).")],
    out: OutOption,
    teacher: TeacherOption = None,
    judge: JudgeOption = "openai/gpt-4o-2024-08-06",
    teacher_base_url: TeacherUrlOption = None,
    judge_base_url: JudgeUrlOption = None,
    protocol: ProtocolOption = "paper",
    rubric: RubricOption = None,
    max_connections: ConnectionsOption = 8,
    max_attempts: AttemptsOption = 4,
    data: DataOption = None,
    images: ImagesOption = None,
    no_leakage_check: NoGuardOption = False,
    overwrite: OverwriteOption = False,
) -> None:
    """Safety SFT: teacher answers that the judge scores safe on all four dimensions."""
    if teacher is None:
        fail("--teacher is required: the model that writes the culturally grounded answers")
    records = _run(lambda: read_norms(norms))
    sources = [SourceFile(path=str(norms), sha256=file_sha256(norms), records=len(records))]
    options = BuildOptions(out, _guard(data, images, no_leakage_check), _command_line(ctx), overwrite)
    models = _models(
        teacher, teacher_base_url, judge, judge_base_url, protocol, rubric, max_connections, max_attempts
    )
    card = _run_async(
        models, lambda: build_safety_sft(scenarios_from_norms(records), options, models, sources)
    )
    _report(card, out)


@align_app.command("dpo")
def dpo_cmd(
    ctx: typer.Context,
    out: OutOption,
    norms: Annotated[
        Path | None, typer.Option("--norms", help="Norms file: teacher pairs.", show_default=False)
    ] = None,
    run: Annotated[
        Path | None, typer.Option("--run", help="Run dir of the model being tuned.", show_default=False)
    ] = None,
    judge_config: Annotated[
        str | None, typer.Option("--judge-config", help="Which verdicts of --run to use (default: latest).")
    ] = None,
    teacher: TeacherOption = None,
    judge: JudgeOption = "openai/gpt-4o-2024-08-06",
    teacher_base_url: TeacherUrlOption = None,
    judge_base_url: JudgeUrlOption = None,
    protocol: ProtocolOption = "paper",
    rubric: RubricOption = None,
    max_connections: ConnectionsOption = 8,
    max_attempts: AttemptsOption = 4,
    data: DataOption = None,
    images: ImagesOption = None,
    no_leakage_check: NoGuardOption = False,
    overwrite: OverwriteOption = False,
) -> None:
    """DPO pairs: judged-safe chosen vs judged-unsafe rejected, from a teacher (--norms) or a run (--run)."""
    if (norms is None) == (run is None):
        fail("give exactly one of --norms FILE or --run DIR")
    options = BuildOptions(out, _guard(data, images, no_leakage_check), _command_line(ctx), overwrite)
    if norms is not None:
        if teacher is None:
            fail("--norms needs --teacher: the model that writes both answers")
        records = _run(lambda: read_norms(norms))
        sources = [SourceFile(path=str(norms), sha256=file_sha256(norms), records=len(records))]
        models = _models(
            teacher, teacher_base_url, judge, judge_base_url, protocol, rubric, max_connections, max_attempts
        )
        card = _run_async(
            models, lambda: build_dpo_from_teacher(scenarios_from_norms(records), options, models, sources)
        )
    else:
        assert run is not None
        run_models: GroundingModels | None = None
        if teacher is not None:
            run_models = _models(
                teacher,
                teacher_base_url,
                judge,
                judge_base_url,
                protocol,
                rubric,
                max_connections,
                max_attempts,
            )
        card = _run_async(
            run_models, lambda: build_dpo_from_run(run, options, run_models, judge_config=judge_config)
        )
    _report(card, out)


@align_app.command("export")
def export_cmd(
    folder: Annotated[Path, typer.Argument(help="A dataset folder written by crosseval align.")],
    fmt: Annotated[
        str, typer.Option("--format", help="trl (datasets folder) or openai (fine-tuning JSONL).")
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Target (default: inside the folder).")] = None,
) -> None:
    """Export a dataset folder for TRL or the OpenAI fine-tuning API."""
    if fmt not in ("trl", "openai"):
        fail(f"--format must be trl or openai, got {fmt!r}")
    summary = _run(lambda: export(folder, fmt, out))  # type: ignore[arg-type]
    console.print(f"wrote {summary.rows} rows to {summary.path}")
    if summary.images_dropped:
        console.print(
            f"[yellow]dropped {summary.images_dropped} images[/] (OpenAI preference data is text only)"
        )


@align_app.command("vqa-check")
def vqa_check_cmd(
    model: Annotated[str, typer.Option("--model", help="Base model, provider/model (e.g. hf/DIR).")],
    file: Annotated[Path, typer.Option("--file", help="VQA file: image, question, answer.")],
    adapter: Annotated[
        Path | None,
        typer.Option("--adapter", help="A PEFT adapter to compare with the base.", show_default=False),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Endpoint URL.", show_default=False)
    ] = None,
    max_connections: ConnectionsOption = 8,
) -> None:
    """Capability retention: exact-match accuracy of the base model and (with --adapter) the tuned one."""
    items = _run(lambda: read_vqa_file(file))
    variants: list[tuple[str, Path | None]] = [("base", None)] + ([("adapter", adapter)] if adapter else [])
    results: dict[str, VqaResult] = {}
    for label, adapter_dir in variants:
        backend = _backend(model, base_url, "model", adapter=adapter_dir)

        async def measure(backend: ModelBackend = backend) -> VqaResult:
            try:
                return await vqa_accuracy(backend, items, max_connections=max_connections, show_progress=True)
            finally:
                await backend.aclose()

        results[label] = asyncio.run(measure())
    for label, result in results.items():
        accuracy = "n/a" if result.accuracy is None else f"{100 * result.accuracy:.1f}%"
        console.print(
            f"{label}: accuracy {accuracy} ({result.correct}/{result.scored} exact), {result.errors} errors"
        )
    base_acc, tuned_acc = results["base"].accuracy, results.get("adapter", VqaResult()).accuracy
    if adapter is not None and base_acc is not None and tuned_acc is not None:
        console.print(f"difference (adapter - base): {100 * (tuned_acc - base_acc):+.1f} points")


def _train(method: Literal["sft", "dpo"], values: dict[str, Any], config: Path | None) -> None:
    from crosseval.align.training import load_config_file, make_settings, train

    merged = _run(lambda: load_config_file(config)) if config is not None else {}
    merged.update({key: value for key, value in values.items() if value is not None})
    merged["method"] = method
    settings = _run(lambda: make_settings(merged, str(config) if config else "options"))
    card = _run(lambda: train(settings))
    console.print(
        f"trained {card.steps} steps on {card.examples} examples; final loss "
        f"{'n/a' if card.final_loss is None else f'{card.final_loss:.4f}'}; wrote {settings.output_dir}"
    )


def _train_options(
    model: str | None,
    data: Path | None,
    out: Path | None,
    no_lora: bool,
    epochs: float | None,
    lr: float | None,
    batch_size: int | None,
    grad_accum: int | None,
    max_steps: int | None,
    max_length: int | None,
    device: str | None,
    overwrite: bool,
) -> dict[str, Any]:
    return {
        "base_model": model,
        "dataset": data,
        "output_dir": out,
        "lora": False if no_lora else None,
        "epochs": epochs,
        "learning_rate": lr,
        "per_device_batch_size": batch_size,
        "gradient_accumulation_steps": grad_accum,
        "max_steps": max_steps,
        "max_length": max_length,
        "device": device,
        "overwrite": True if overwrite else None,
    }


ModelOpt = Annotated[
    str | None, typer.Option("--model", help="Base VLM: a local folder or hub id.", show_default=False)
]
DataOpt = Annotated[Path | None, typer.Option("--data", help="Dataset folder.", show_default=False)]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="Output folder (adapter or model).", show_default=False)
]
NoLoraOpt = Annotated[bool, typer.Option("--no-lora", help="Full fine-tuning instead of a LoRA adapter.")]
EpochsOpt = Annotated[float | None, typer.Option("--epochs", help="Default 1.", show_default=False)]
LrOpt = Annotated[float | None, typer.Option("--lr", help="Learning rate.", show_default=False)]
BatchOpt = Annotated[
    int | None, typer.Option("--batch-size", help="Per-device batch (default 1).", show_default=False)
]
AccumOpt = Annotated[
    int | None, typer.Option("--grad-accum", help="Gradient accumulation (default 8).", show_default=False)
]
StepsOpt = Annotated[
    int | None, typer.Option("--max-steps", help="Stop after N steps (smoke runs).", show_default=False)
]
LengthOpt = Annotated[
    int | None, typer.Option("--max-length", help="Max tokens per example.", show_default=False)
]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto, cpu or cuda.", show_default=False)]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML file with any option.", show_default=False)
]


@train_app.command("sft")
def train_sft_cmd(
    model: ModelOpt = None,
    data: DataOpt = None,
    out: OutOpt = None,
    no_lora: NoLoraOpt = False,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    batch_size: BatchOpt = None,
    grad_accum: AccumOpt = None,
    max_steps: StepsOpt = None,
    max_length: LengthOpt = None,
    device: DeviceOpt = None,
    config: ConfigOpt = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Supervised fine-tuning (TRL SFTTrainer) on an SFT dataset folder."""
    values = _train_options(
        model,
        data,
        out,
        no_lora,
        epochs,
        lr,
        batch_size,
        grad_accum,
        max_steps,
        max_length,
        device,
        overwrite,
    )
    _train("sft", values, config)


@train_app.command("dpo")
def train_dpo_cmd(
    model: ModelOpt = None,
    data: DataOpt = None,
    out: OutOpt = None,
    no_lora: NoLoraOpt = False,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    beta: Annotated[
        float | None, typer.Option("--beta", help="DPO beta (default 0.1).", show_default=False)
    ] = None,
    batch_size: BatchOpt = None,
    grad_accum: AccumOpt = None,
    max_steps: StepsOpt = None,
    max_length: LengthOpt = None,
    device: DeviceOpt = None,
    config: ConfigOpt = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Preference tuning (TRL DPOTrainer) on a DPO dataset folder."""
    values = _train_options(
        model,
        data,
        out,
        no_lora,
        epochs,
        lr,
        batch_size,
        grad_accum,
        max_steps,
        max_length,
        device,
        overwrite,
    )
    values["beta"] = beta
    _train("dpo", values, config)


def register(app: typer.Typer) -> None:
    """Adds `crosseval align ...` and `crosseval train ...` to the top-level app."""
    app.add_typer(align_app, name="align")
    app.add_typer(train_app, name="train")
