"""`crosseval align ...` (datasets, exports, capability check) and `crosseval train sft|dpo`."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer

from crosseval.cli.common import console, fail, load_benchmark_or_exit
from crosseval.cli.helptext import (
    COMMAND_PANEL_ALIGN,
    PANEL_CONCURRENCY,
    PANEL_LEAKAGE,
    PANEL_MODEL,
    PANEL_OUTPUT,
    PANEL_TEACHER,
    PANEL_TRAINING,
    examples,
)
from crosseval.cli.options import (
    BaseUrlOption,
    DeviceOption,
    DtypeOption,
    MaxAttemptsOption,
    data_option,
    flag,
    images_option,
    option,
    option_group,
    parse_protocol,
    with_option_groups,
)

if TYPE_CHECKING:
    from crosseval.align.builders import BuildOptions
    from crosseval.align.dataset import DatasetCard, SourceFile
    from crosseval.align.grounded import GroundingModels
    from crosseval.align.leakage import LeakageGuard
    from crosseval.align.vqa_check import VqaResult

align_app = typer.Typer(
    help="Build culturally grounded SFT/DPO data, export it, check capability retention.",
    no_args_is_help=True,
    epilog=examples(
        "crosseval align safety norms.jsonl --teacher openai/gpt-4o --judge openai/gpt-4o-2024-08-06 "
        "--out data/safety-sft",
        "crosseval align dpo --norms norms.jsonl --teacher openai/gpt-4o --judge openai/gpt-4o-2024-08-06 "
        "--out data/dpo",
    ),
)
train_app = typer.Typer(
    help="Fine-tune a vision-language model on a dataset folder (TRL; LoRA by default).",
    no_args_is_help=True,
    epilog=examples(
        "crosseval train sft --model path/to/vlm --data data/safety-sft --out adapters/sft  # TRL + PEFT LoRA",
    ),
)

T = TypeVar("T")

OverwriteOption = Annotated[bool, flag("--overwrite", panel=PANEL_OUTPUT, help="Replace --out if it exists.")]
ConnectionsOption = Annotated[
    int, option("--max-connections", metavar="N", panel=PANEL_CONCURRENCY, min=1, help="Requests in flight.")
]


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


def _given(models: GroundingModels | None) -> GroundingModels:
    """The models of a build that needs them (its options were checked to include them)."""
    assert models is not None
    return models


@option_group
@dataclass(frozen=True)
class DatasetTarget:
    """Where a dataset builder writes, and the CROSS leakage guard it checks items against."""

    out: Annotated[Path, option("--out", metavar="DIR", panel=PANEL_OUTPUT, help="Dataset folder to write.")]
    data: Annotated[
        list[Path] | None,
        data_option(PANEL_LEAKAGE, help="The CROSS benchmark items are checked against; repeatable."),
    ] = None
    images: Annotated[Path | None, images_option(PANEL_LEAKAGE)] = None
    no_leakage_check: Annotated[
        bool,
        flag(
            "--no-leakage-check",
            panel=PANEL_LEAKAGE,
            help="Skip the guard against CROSS items; the card says 'not checked'.",
        ),
    ] = False
    overwrite: OverwriteOption = False

    def guard(self) -> LeakageGuard | None:
        from crosseval.align.leakage import LeakageGuard, local_image_sha256

        if self.no_leakage_check:
            console.print("[yellow]leakage guard off:[/] items are not checked against CROSS")
            return None
        benchmark = load_benchmark_or_exit(self.data, self.images)
        return LeakageGuard.from_samples(
            benchmark.samples, image_sha256=local_image_sha256(benchmark.samples)
        )

    def build_options(self, ctx: typer.Context) -> BuildOptions:
        from crosseval.align.builders import BuildOptions

        return BuildOptions(self.out, self.guard(), _command_line(ctx), self.overwrite)


@option_group
@dataclass(frozen=True)
class GroundingOptions:
    """The teacher that writes answers and the CROSS-Eval judge that verifies them."""

    teacher: Annotated[
        str | None,
        option(
            "--teacher",
            metavar="MODEL",
            panel=PANEL_TEACHER,
            help="Teacher that writes answers, provider/model.",
        ),
    ] = None
    judge: Annotated[
        str, option("--judge", metavar="MODEL", panel=PANEL_TEACHER, help="CROSS-Eval judge, provider/model.")
    ] = "openai/gpt-4o-2024-08-06"
    teacher_base_url: Annotated[
        str | None,
        option(
            "--teacher-base-url",
            metavar="URL",
            panel=PANEL_TEACHER,
            when_unset="the provider's",
            help="OpenAI-compatible endpoint of the teacher.",
        ),
    ] = None
    judge_base_url: Annotated[
        str | None,
        option(
            "--judge-base-url",
            metavar="URL",
            panel=PANEL_TEACHER,
            when_unset="the provider's",
            help="OpenAI-compatible endpoint of the judge.",
        ),
    ] = None
    protocol: Annotated[
        str,
        option(
            "--protocol",
            metavar="NAME",
            panel=PANEL_TEACHER,
            help="Judge protocol: paper (4 calls) or single.",
        ),
    ] = "paper"
    rubric: Annotated[
        Path | None,
        option(
            "--rubric",
            metavar="DIR",
            panel=PANEL_TEACHER,
            when_unset="the built-in set",
            help="Judge rubric set.",
        ),
    ] = None
    max_connections: ConnectionsOption = 8
    max_attempts: MaxAttemptsOption = 4

    @asynccontextmanager
    async def open(self) -> AsyncIterator[GroundingModels]:
        """The judge (and teacher, when given), open for one build and closed after it.

        Bad options, a bad rubric set or a missing key raise before any request.
        """
        from crosseval.align.grounded import GroundingModels
        from crosseval.engine.retry import RetryPolicy
        from crosseval.judge.protocols import JudgeSettings
        from crosseval.judge.rubrics import load_rubric_set
        from crosseval.models.backend_config import BackendConfig
        from crosseval.models.registry import open_backend

        protocol = parse_protocol(self.protocol)
        rubric_set = load_rubric_set(self.rubric, protocol)
        judge = BackendConfig(
            self.judge, role="judge", base_url=self.judge_base_url, option_prefix="--judge-"
        )
        teacher = (
            BackendConfig(
                self.teacher, role="model", base_url=self.teacher_base_url, option_prefix="--teacher-"
            )
            if self.teacher
            else None
        )
        async with AsyncExitStack() as stack:
            yield GroundingModels(
                judge=await stack.enter_async_context(open_backend(judge)),
                settings=JudgeSettings(protocol=protocol, rubric=rubric_set),
                teacher=await stack.enter_async_context(open_backend(teacher)) if teacher else None,
                policy=RetryPolicy(max_attempts=self.max_attempts),
                max_connections=self.max_connections,
                show_progress=True,
            )


def _build_with(
    grounding: GroundingOptions | None, build: Callable[[GroundingModels | None], Awaitable[T]]
) -> T:
    """Runs `build` with the grounding models open (None when no teacher or judge is needed)."""

    async def main() -> T:
        if grounding is None:
            return await build(None)
        async with grounding.open() as models:
            return await build(models)

    return asyncio.run(main())


def _report(card: DatasetCard, out: Path) -> None:
    console.print(f"wrote {card.examples} {card.kind.upper()} examples to {out}")
    if card.leakage.guard is not None:
        console.print(f"leakage guard removed {card.leakage.removed} items")
    if card.rejected.total:
        reasons = ", ".join(f"{k}: {v}" for k, v in card.rejected.by_reason.items())
        console.print(f"rejected {card.rejected.total} candidates ({reasons})")


def _norms_file(norms: Path) -> tuple[list[Any], list[SourceFile]]:
    """The norms of a norms file and its description for the dataset card."""
    from crosseval.align.dataset import SourceFile
    from crosseval.align.norms import read_norms
    from crosseval.align.records_io import file_sha256

    records = read_norms(norms)
    return records, [SourceFile(path=str(norms), sha256=file_sha256(norms), records=len(records))]


@align_app.command(
    "cvqa",
    epilog=examples(
        "crosseval align cvqa cvqa.jsonl --split overlapped --out data/cvqa-overlapped --data ~/CROSS",
        "crosseval align cvqa cvqa.jsonl --split exclusive --out data/cvqa-exclusive --data ~/CROSS",
    ),
)
@with_option_groups
def cvqa_cmd(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE",
            help="CVQA-style files (local, with country) or upstream cvqa_sft JSONL.",
            show_default=False,
        ),
    ],
    target: DatasetTarget,
    split: Annotated[
        str,
        option(
            "--split", metavar="SPLIT", help="overlapped (CROSS countries), exclusive (the others) or all."
        ),
    ] = "all",
    images_root: Annotated[
        Path | None,
        option("--images-root", metavar="DIR", help="Folder with the images given by URL, by file name."),
    ] = None,
) -> None:
    """Visual multiple-choice SFT data from CVQA-style questions, split by country."""
    from crosseval.align.builders import SplitChoice, build_cvqa_sft

    if split not in ("overlapped", "exclusive", "all"):
        fail(f"--split must be overlapped, exclusive or all, got {split!r}")
    options = target.build_options(ctx)
    chosen: SplitChoice = split  # type: ignore[assignment]
    card = build_cvqa_sft(files, options, split=chosen, images_root=images_root)
    _report(card, target.out)


@align_app.command(
    "import",
    epilog=examples(
        "crosseval align import safety_sft_gpt4o_exclusive.jsonl --out data/safety-upstream --data ~/CROSS"
    ),
)
@with_option_groups
def import_cmd(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE", help="Upstream safety_sft JSONL files.", show_default=False),
    ],
    target: DatasetTarget,
) -> None:
    """Import the upstream text-only safety SFT files into a dataset folder."""
    from crosseval.align.builders import build_upstream_import

    options = target.build_options(ctx)
    card = build_upstream_import(files, options)
    _report(card, target.out)


@align_app.command(
    "safety",
    epilog=examples(
        "crosseval align safety norms.jsonl --teacher openai/gpt-4o --judge openai/gpt-4o-2024-08-06 "
        "--out data/safety-sft"
    ),
)
@with_option_groups
def safety_cmd(
    ctx: typer.Context,
    norms: Annotated[
        Path,
        typer.Argument(
            metavar="NORMS",
            help="Norms file (JSONL, JSON or CSV: norm, country, item, scene).",
            show_default=False,
        ),
    ],
    target: DatasetTarget,
    grounding: GroundingOptions,
) -> None:
    """Safety SFT: teacher answers that the judge scores safe on all four dimensions."""
    from crosseval.align.grounded import build_safety_sft, scenarios_from_norms

    if grounding.teacher is None:
        fail("--teacher is required: the model that writes the culturally grounded answers")
    records, sources = _norms_file(norms)
    options = target.build_options(ctx)
    card = _build_with(
        grounding,
        lambda models: build_safety_sft(scenarios_from_norms(records), options, _given(models), sources),
    )
    _report(card, target.out)


@align_app.command(
    "dpo",
    epilog=examples(
        "crosseval align dpo --norms norms.jsonl --teacher openai/gpt-4o --judge openai/gpt-4o-2024-08-06 "
        "--out data/dpo",
        "crosseval align dpo --run runs/mine --out data/dpo-own --teacher openai/gpt-4o "
        "--judge openai/gpt-4o-2024-08-06  # pairs from the model's own judged answers",
    ),
)
@with_option_groups
def dpo_cmd(
    ctx: typer.Context,
    target: DatasetTarget,
    grounding: GroundingOptions,
    norms: Annotated[
        Path | None, option("--norms", metavar="FILE", help="Norms file: the teacher writes both answers.")
    ] = None,
    run: Annotated[
        Path | None,
        option("--run", metavar="DIR", help="Judged run of the model being tuned: its own answers."),
    ] = None,
    judge_config: Annotated[
        str | None,
        option(
            "--judge-config", metavar="NAME", when_unset="the latest", help="Which verdicts of --run to use."
        ),
    ] = None,
) -> None:
    """DPO pairs: judged-safe chosen vs judged-unsafe rejected, from a teacher (--norms) or a run (--run)."""
    from crosseval.align.grounded import build_dpo_from_run, build_dpo_from_teacher, scenarios_from_norms

    if (norms is None) == (run is None):
        fail("give exactly one of --norms FILE or --run DIR")
    options = target.build_options(ctx)
    if norms is not None:
        if grounding.teacher is None:
            fail("--norms needs --teacher: the model that writes both answers")
        records, sources = _norms_file(norms)
        card = _build_with(
            grounding,
            lambda models: build_dpo_from_teacher(
                scenarios_from_norms(records), options, _given(models), sources
            ),
        )
    else:
        assert run is not None
        card = _build_with(
            grounding if grounding.teacher is not None else None,
            lambda models: build_dpo_from_run(run, options, models, judge_config=judge_config),
        )
    _report(card, target.out)


@align_app.command(
    "export",
    epilog=examples(
        "crosseval align export data/safety --format trl  # data/safety/export-trl/ (datasets.save_to_disk)",
        "crosseval align export data/safety --format openai  # data/safety/openai.jsonl",
    ),
)
def export_cmd(
    folder: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="A dataset folder written by crosseval align.", show_default=False
        ),
    ],
    fmt: Annotated[
        str,
        option("--format", metavar="FORMAT", help="trl (a datasets folder) or openai (fine-tuning JSONL)."),
    ],
    out: Annotated[
        Path | None,
        option("--out", metavar="PATH", when_unset="inside the dataset folder", help="Where to write."),
    ] = None,
) -> None:
    """Export a dataset folder for TRL or the OpenAI fine-tuning API."""
    from crosseval.align.exports import export

    if fmt not in ("trl", "openai"):
        fail(f"--format must be trl or openai, got {fmt!r}")
    summary = export(folder, fmt, out)  # type: ignore[arg-type]
    console.print(f"wrote {summary.rows} rows to {summary.path}")
    if summary.images_dropped:
        console.print(
            f"[yellow]dropped {summary.images_dropped} images[/] (OpenAI preference data is text only)"
        )


@align_app.command(
    "vqa-check",
    epilog=examples(
        "crosseval align vqa-check --model hf/Qwen/Qwen2.5-VL-7B-Instruct --adapter adapters/safety-sft "
        "--file vqa.jsonl"
    ),
)
def vqa_check_cmd(
    model: Annotated[
        str, option("--model", metavar="MODEL", panel=PANEL_MODEL, help="Base model, provider/model: hf/DIR.")
    ],
    file: Annotated[Path, option("--file", metavar="FILE", help="VQA items: image, question, answer.")],
    adapter: Annotated[
        Path | None,
        option("--adapter", metavar="DIR", panel=PANEL_MODEL, help="PEFT adapter to compare with the base."),
    ] = None,
    base_url: BaseUrlOption = None,
    max_connections: ConnectionsOption = 8,
    device: DeviceOption = None,
    dtype: DtypeOption = None,
) -> None:
    """Capability retention: exact-match accuracy of the base model and (with --adapter) the tuned one."""
    from crosseval.align.vqa_check import VqaResult, read_vqa_file, vqa_accuracy
    from crosseval.models.backend_config import BackendConfig
    from crosseval.models.registry import open_backend

    items = read_vqa_file(file)
    variants: list[tuple[str, Path | None]] = [("base", None)] + ([("adapter", adapter)] if adapter else [])
    results: dict[str, VqaResult] = {}
    for label, adapter_dir in variants:
        config = BackendConfig(
            model,
            base_url=base_url,
            adapter=adapter_dir,
            device=device,
            dtype=dtype,
            max_connections=max_connections,
        )

        async def measure(config: BackendConfig = config) -> VqaResult:
            async with open_backend(config) as backend:
                return await vqa_accuracy(backend, items, max_connections=max_connections, show_progress=True)

        results[label] = asyncio.run(measure())
    for label, result in results.items():
        accuracy = "n/a" if result.accuracy is None else f"{100 * result.accuracy:.1f}%"
        console.print(
            f"{label}: accuracy {accuracy} ({result.correct}/{result.scored} exact), {result.errors} errors"
        )
    base_acc, tuned_acc = results["base"].accuracy, results.get("adapter", VqaResult()).accuracy
    if adapter is not None and base_acc is not None and tuned_acc is not None:
        console.print(f"difference (adapter - base): {100 * (tuned_acc - base_acc):+.1f} points")


@option_group
@dataclass(frozen=True)
class TrainOptions:
    """What `train sft` and `train dpo` share; unset options fall back to --config, then to the defaults."""

    model: Annotated[
        str | None,
        option("--model", metavar="MODEL", panel=PANEL_MODEL, help="Base VLM: a local folder or a hub id."),
    ] = None
    data: Annotated[
        Path | None,
        option("--data", metavar="DIR", panel=PANEL_MODEL, help="Dataset folder written by crosseval align."),
    ] = None
    no_lora: Annotated[
        bool, flag("--no-lora", panel=PANEL_MODEL, help="Full fine-tuning instead of a LoRA adapter.")
    ] = False
    device: Annotated[
        str | None,
        option("--device", metavar="DEVICE", panel=PANEL_MODEL, when_unset="auto", help="auto, cpu or cuda."),
    ] = None
    epochs: Annotated[
        float | None,
        option(
            "--epochs", metavar="N", panel=PANEL_TRAINING, when_unset="1", help="Passes over the dataset."
        ),
    ] = None
    lr: Annotated[
        float | None,
        option(
            "--lr",
            metavar="FLOAT",
            panel=PANEL_TRAINING,
            when_unset="1e-4 LoRA, 1e-5 full; DPO a tenth",
            help="Learning rate.",
        ),
    ] = None
    batch_size: Annotated[
        int | None,
        option(
            "--batch-size",
            metavar="N",
            panel=PANEL_TRAINING,
            when_unset="1",
            help="Examples per device and step.",
        ),
    ] = None
    grad_accum: Annotated[
        int | None,
        option(
            "--grad-accum",
            metavar="N",
            panel=PANEL_TRAINING,
            when_unset="8",
            help="Steps accumulated per update.",
        ),
    ] = None
    max_steps: Annotated[
        int | None,
        option(
            "--max-steps",
            metavar="N",
            panel=PANEL_TRAINING,
            when_unset="none",
            help="Stop after N steps (smoke runs).",
        ),
    ] = None
    max_length: Annotated[
        int | None,
        option(
            "--max-length",
            metavar="N",
            panel=PANEL_TRAINING,
            when_unset="2048",
            help="Longest example, in tokens.",
        ),
    ] = None
    out: Annotated[
        Path | None,
        option("--out", metavar="DIR", panel=PANEL_OUTPUT, help="Output folder: the adapter, or the model."),
    ] = None
    overwrite: OverwriteOption = False
    config: Annotated[
        Path | None,
        option("--config", metavar="FILE", help="YAML file with any training option; flags given here win."),
    ] = None

    def settings(self) -> dict[str, Any]:
        """The options as `make_settings` keys; None means 'not given'."""
        return {
            "base_model": self.model,
            "dataset": self.data,
            "output_dir": self.out,
            "lora": False if self.no_lora else None,
            "epochs": self.epochs,
            "learning_rate": self.lr,
            "per_device_batch_size": self.batch_size,
            "gradient_accumulation_steps": self.grad_accum,
            "max_steps": self.max_steps,
            "max_length": self.max_length,
            "device": self.device,
            "overwrite": True if self.overwrite else None,
        }


def _train(method: Literal["sft", "dpo"], options: TrainOptions, **more: Any) -> None:
    from crosseval.align.training import load_config_file, make_settings, train

    config = options.config
    merged = load_config_file(config) if config is not None else {}
    merged.update({key: value for key, value in {**options.settings(), **more}.items() if value is not None})
    merged["method"] = method
    settings = make_settings(merged, str(config) if config else "options")
    card = train(settings)
    console.print(
        f"trained {card.steps} steps on {card.examples} examples; final loss "
        f"{'n/a' if card.final_loss is None else f'{card.final_loss:.4f}'}; wrote {settings.output_dir}"
    )


@train_app.command(
    "sft",
    epilog=examples(
        "crosseval train sft --model path/to/vlm --data data/safety-sft --out adapters/sft  # TRL + PEFT LoRA",
        "crosseval train sft --model ./tiny --data data/safety --out /tmp/smoke --max-steps 3  # smoke run",
    ),
)
@with_option_groups
def train_sft_cmd(options: TrainOptions) -> None:
    """Supervised fine-tuning (TRL SFTTrainer) on an SFT dataset folder.

    --model, --data and --out are required, as flags or in the --config file; flags win over the file.
    """
    _train("sft", options)


@train_app.command(
    "dpo", epilog=examples("crosseval train dpo --model path/to/vlm --data data/dpo --out adapters/dpo")
)
@with_option_groups
def train_dpo_cmd(
    options: TrainOptions,
    beta: Annotated[
        float | None,
        option(
            "--beta",
            metavar="FLOAT",
            panel=PANEL_TRAINING,
            when_unset="0.1",
            help="DPO beta: how far from the base.",
        ),
    ] = None,
) -> None:
    """Preference tuning (TRL DPOTrainer) on a DPO dataset folder.

    --model, --data and --out are required, as flags or in the --config file; flags win over the file.
    """
    _train("dpo", options, beta=beta)


def register(app: typer.Typer) -> None:
    """Adds `crosseval align ...` and `crosseval train ...` to the top-level app."""
    app.add_typer(align_app, name="align", rich_help_panel=COMMAND_PANEL_ALIGN)
    app.add_typer(train_app, name="train", rich_help_panel=COMMAND_PANEL_ALIGN)
