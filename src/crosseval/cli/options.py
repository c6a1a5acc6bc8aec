"""Options several commands share, each written once.

Single options are `Annotated` aliases (`DataOption`, `ImagesOption`, ...). Options that travel together
are *option groups*: frozen dataclasses whose fields are annotated typer options (`SampleSelection`,
`ModelOptions`, `JudgeOptions`, `RetryOptions`). A command takes a group as one parameter:

    @with_option_groups
    def generate(model: ModelOptions, selection: SampleSelection, retry: RetryOptions, ...) -> None:
        benchmark = selection.load()

`with_option_groups` shows typer the group's fields as the command's own options (same flags, same help)
and calls the command with the dataclass built from the parsed values.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar, cast

import typer

from crosseval.cli.common import (
    backend_config,
    default_run_dir,
    fail,
    load_benchmark_or_exit,
    load_config_defaults,
    warn,
)

if TYPE_CHECKING:
    from crosseval.data.loaders import Benchmark, SampleFilter
    from crosseval.engine.generation import GenerationConfig
    from crosseval.engine.retry import RetryPolicy
    from crosseval.judge.rubrics import Protocol
    from crosseval.judge.runner import JudgeConfig
    from crosseval.models.registry import BackendConfig
    from crosseval.models.types import GenerationParams

P = ParamSpec("P")
R = TypeVar("R")
G = TypeVar("G")

_GROUP_MARK = "__crosseval_option_group__"


def option_group(cls: type[G]) -> type[G]:
    """Marks a dataclass of annotated typer options as a group `with_option_groups` expands."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__}: an option group must be a dataclass")
    setattr(cls, _GROUP_MARK, True)
    return cls


def is_option_group(annotation: Any) -> bool:
    return isinstance(annotation, type) and bool(getattr(annotation, _GROUP_MARK, False))


DEFAULT_MAX_IMAGE_SIDE = 1536
"""`crosseval.data.images.ImageOptions().max_side`, written here so `--help` does not import the data layer."""

PROTOCOL_NAMES = ("paper", "single")
"""`crosseval.judge.rubrics.PROTOCOLS`, written here so `--help` does not import the judge layer."""


def unset_option(flag: str, help: str, **settings: Any) -> Any:
    """An option whose default means 'not given' (so `--help` shows no default)."""
    return typer.Option(flag, help=help, show_default=False, **settings)


def _repeatable(flag: str, metavar: str, help: str) -> Any:
    return typer.Option(flag, metavar=metavar, help=help, show_default=False)


DataOption = Annotated[
    list[Path] | None,
    _repeatable(
        "--data",
        "PATH",
        "A folder with the upstream layout (data/<subset>/<setting>.json, images/<subset>/...) or a data "
        "file (JSON array or JSONL); repeatable. Default: the upstream CROSS release, downloaded and cached.",
    ),
]
ImagesOption = Annotated[
    Path | None,
    typer.Option(
        "--images",
        metavar="DIR",
        help="Images root (<root>/<subset>/<name>) for data files given alone.",
        show_default=False,
    ),
]
SubsetOption = Annotated[
    list[str] | None, _repeatable("--subset", "SUBSET", "Keep this subset (casa, safeworld); repeatable.")
]
SettingOption = Annotated[
    list[str] | None,
    _repeatable("--setting", "SETTING", "Keep this setting (english, multilingual); repeatable."),
]
CountryOption = Annotated[
    list[str] | None,
    _repeatable("--country", "COUNTRY", "Keep this country (e.g. 'Saudi Arabia'); repeatable."),
]
LanguageOption = Annotated[
    list[str] | None,
    _repeatable(
        "--language", "LANGUAGE", "Keep this language (name or ISO code, e.g. Persian, fa); repeatable."
    ),
]
VariantOption = Annotated[
    list[int] | None, _repeatable("--variant", "N", "Keep this paraphrase block (1-3); repeatable.")
]
IdOption = Annotated[
    list[str] | None,
    _repeatable(
        "--id", "ID", "Keep this sample id or base id (casa/Japan_1 keeps all its variants); repeatable."
    ),
]
LimitOption = Annotated[
    int | None,
    typer.Option(
        "--limit",
        metavar="N",
        min=0,
        help="Keep the first N samples after the other filters.",
        show_default=False,
    ),
]
DomainOverridesOption = Annotated[
    Path | None,
    typer.Option(
        "--domain-overrides",
        metavar="FILE",
        help="JSON object or CSV mapping id, base id or index to a domain (shopping, meal_planning, outdoor_activities).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
JudgeConfigOption = Annotated[
    str | None,
    unset_option("--judge-config", "Judge configuration to use (default: the only/most recent)."),
]
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


def _device_option(flag: str) -> Any:
    return typer.Option(
        flag, help="Device of an in-process hf/ model: auto, cpu, cuda, cuda:1, mps.", show_default=False
    )


def _dtype_option(flag: str) -> Any:
    return typer.Option(
        flag,
        help="Weights dtype of an in-process model (hf/, vllm offline): auto, float32, float16, bfloat16.",
        show_default=False,
    )


def _vllm_offline_option(flag: str) -> Any:
    return typer.Option(
        flag, help="Run a vllm/ model in this process (vllm.LLM, GPU) instead of calling a vLLM server."
    )


def _max_request_mb_option(flag: str) -> Any:
    return typer.Option(
        flag,
        min=0.001,
        help="Largest request body sent to an HTTP API, MiB (default 20); larger requests fail as too_large.",
        show_default=False,
    )


DeviceOption = Annotated[str | None, _device_option("--device")]
DtypeOption = Annotated[str | None, _dtype_option("--dtype")]


def parse_protocol(value: str) -> Protocol:
    """`value` as a judge protocol; anything else exits with code 2."""
    if value not in PROTOCOL_NAMES:
        fail(f"unknown --protocol {value!r}: use one of {', '.join(PROTOCOL_NAMES)}")
    return cast("Protocol", value)


class ReasoningEffortChoice(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


@option_group
@dataclass(frozen=True)
class SampleSelection:
    """`--data`, `--images` and the sample filters: which benchmark samples a command reads."""

    data: DataOption = None
    images: ImagesOption = None
    subset: SubsetOption = None
    setting: SettingOption = None
    country: CountryOption = None
    language: LanguageOption = None
    variant: VariantOption = None
    ids: IdOption = None
    limit: LimitOption = None

    def filters(self) -> SampleFilter | None:
        """The `SampleFilter` of the filter options (None when none is given); bad values exit with code 2."""
        chosen = (self.subset, self.setting, self.country, self.language, self.variant, self.ids)
        if not any(chosen) and self.limit is None:
            return None
        from crosseval.data.loaders import SampleFilter

        names = ("subsets", "settings", "countries", "languages", "variants", "ids")
        criteria: dict[str, Any] = {name: values or None for name, values in zip(names, chosen, strict=True)}
        try:
            return SampleFilter(**criteria, limit=self.limit)
        except ValueError as exc:
            fail(str(exc))

    def load(self, *, domain_overrides: Path | None = None, required: bool = False) -> Benchmark:
        """The selected samples; a data error exits 1, and with `required` so does an empty selection.

        A filter value that matches no loaded sample (a typo, most often) is warned about on stderr.
        """
        benchmark = load_benchmark_or_exit(
            self.data, self.images, self.filters(), domain_overrides=domain_overrides
        )
        for unmatched in benchmark.unmatched_filters:
            warn(f"--{unmatched.describe()}")
        if required and not benchmark.samples:
            fail("no samples match the filters: nothing to run")
        return benchmark


@option_group
@dataclass(frozen=True)
class RetryOptions:
    """How hard each request is tried, and whether stored failures are tried again."""

    max_attempts: Annotated[
        int, typer.Option("--max-attempts", min=1, help="Attempts per request, retries included.")
    ] = 6
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.001, help="Seconds allowed for one attempt.")
    ] = 120.0
    retry_base_delay: Annotated[
        float,
        typer.Option(
            "--retry-base-delay", min=0.0, help="First backoff ceiling, seconds (doubles per retry)."
        ),
    ] = 1.0
    retry_errors: Annotated[
        bool, typer.Option("--retry-errors", help="Send again what is stored as failed.")
    ] = False
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Live progress on stderr.")] = (
        True
    )

    def policy(self) -> RetryPolicy:
        from crosseval.engine.retry import RetryPolicy

        return RetryPolicy(
            max_attempts=self.max_attempts,
            base_delay_s=self.retry_base_delay,
            attempt_timeout_s=self.timeout,
            total_timeout_s=max(600.0, self.timeout),
        )


@option_group
@dataclass(frozen=True)
class ModelOptions:
    """The model under test, where its run lives, and how it is asked (`generate`, `run`)."""

    model: Annotated[
        str,
        unset_option(
            "--model", "The model under test, as provider/model: openai/gpt-4o-mini, hf/DIR, vllm/NAME."
        ),
    ]
    run_dir: Annotated[
        Path | None,
        unset_option(
            "--run-dir", "Where the run lives (default runs/<date>-<model>); the same directory resumes."
        ),
    ] = None
    base_url: Annotated[
        str | None,
        unset_option("--base-url", "OpenAI-compatible endpoint (vLLM, Ollama, ...)."),
    ] = None
    max_connections: Annotated[
        int, typer.Option("--max-connections", min=1, help="Model requests in flight.")
    ] = 32
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Responses per sample (the paper: 3).")] = 3
    temperature: Annotated[float | None, unset_option("--temperature", "Default: the model's.")] = None
    top_p: Annotated[float | None, unset_option("--top-p", "Default: the model's.")] = None
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", min=1, help="Default: the model's.", show_default=False)
    ] = None
    seed: Annotated[int | None, typer.Option("--seed", show_default=False)] = None
    reasoning_effort: Annotated[
        ReasoningEffortChoice | None,
        unset_option("--reasoning-effort", "Reasoning models."),
    ] = None
    max_image_side: Annotated[
        int | None,
        typer.Option(
            "--max-image-side",
            "--max-side",
            min=16,
            help=f"Longest image side sent, px (default {DEFAULT_MAX_IMAGE_SIDE}).",
            show_default=False,
        ),
    ] = None
    adapter: Annotated[Path | None, unset_option("--adapter", "PEFT adapter folder (hf, vllm).")] = None
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Batch size of in-process models.")
    ] = 8
    device: DeviceOption = None
    dtype: DtypeOption = None
    vllm_offline: Annotated[bool, _vllm_offline_option("--vllm-offline")] = False
    max_request_mb: Annotated[float | None, _max_request_mb_option("--max-request-mb")] = None

    @property
    def target(self) -> Path:
        """`--run-dir`, else `runs/<date>-<model>`."""
        return self.run_dir or default_run_dir(self.model)

    def params(self) -> GenerationParams:
        from crosseval.models.types import GenerationParams

        effort = self.reasoning_effort.value if self.reasoning_effort else None
        return GenerationParams(
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            seed=self.seed,
            reasoning_effort=effort,  # type: ignore[arg-type]
        )

    def generation_config(self, retry: RetryOptions, *, dry_run: bool = False) -> GenerationConfig:
        from crosseval.data.images import ImageOptions
        from crosseval.engine.generation import GenerationConfig

        image_options = ImageOptions() if self.max_image_side is None else ImageOptions(self.max_image_side)
        return GenerationConfig(
            model=self.model,
            base_url=self.base_url,
            params=self.params(),
            rounds=self.rounds,
            max_connections=self.max_connections,
            retry=retry.policy(),
            image_options=image_options,
            adapter=self.adapter,
            batch_size=self.batch_size,
            retry_errors=retry.retry_errors,
            dry_run=dry_run,
            show_progress=retry.progress,
        )

    def backend_config(self, retry: RetryOptions) -> BackendConfig:
        """What `run_generation` would build from the generation config, plus device, dtype and extras."""
        return backend_config(
            self.model,
            self.base_url,
            "model",
            device=self.device,
            dtype=self.dtype,
            vllm_offline=self.vllm_offline,
            max_request_mb=self.max_request_mb,
            adapter=self.adapter,
            timeout_s=retry.timeout,
            max_connections=self.max_connections,
            batch_size=self.batch_size,
        )


@option_group
@dataclass(frozen=True)
class JudgeOptions:
    """The CROSS-Eval judge and how it is asked (`judge`, `run`)."""

    judge: Annotated[
        str,
        unset_option("--judge", "The judge, as provider/model (the paper: openai/gpt-4o-2024-08-06)."),
    ]
    judge_base_url: Annotated[
        str | None,
        unset_option(
            "--judge-base-url",
            "OpenAI-compatible endpoint for the judge (key from CROSSEVAL_JUDGE_API_KEY, else the model's).",
        ),
    ] = None
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            help="paper: four calls per response, one per dimension (as in the paper); single: one JSON call.",
        ),
    ] = "paper"
    rubric: Annotated[
        Path | None,
        unset_option(
            "--rubric",
            "A rubric set directory of your own (same files as the built-in one); default: the built-in set.",
        ),
    ] = None
    max_reasks: Annotated[
        int,
        typer.Option(
            "--max-reasks", min=0, help="Follow-ups asking for the final 0 or 1 when a verdict is unreadable."
        ),
    ] = 2
    judge_device: Annotated[str | None, _device_option("--judge-device")] = None
    judge_dtype: Annotated[str | None, _dtype_option("--judge-dtype")] = None
    judge_vllm_offline: Annotated[bool, _vllm_offline_option("--judge-vllm-offline")] = False
    judge_max_request_mb: Annotated[float | None, _max_request_mb_option("--judge-max-request-mb")] = None

    def judge_config(self, max_connections: int, retry: RetryOptions) -> JudgeConfig:
        """The judge configuration; an unknown `--protocol` exits with code 2."""
        from crosseval.judge.runner import JudgeConfig

        return JudgeConfig(
            judge=self.judge,
            base_url=self.judge_base_url,
            protocol=parse_protocol(self.protocol),
            rubric_dir=self.rubric,
            max_connections=max_connections,
            policy=retry.policy(),
            max_reasks=self.max_reasks,
            show_progress=retry.progress,
        )

    def backend_config(self, max_connections: int, retry: RetryOptions) -> BackendConfig:
        """What `run_judging` would build from the judge configuration, plus device, dtype and extras."""
        return backend_config(
            self.judge,
            self.judge_base_url,
            "judge",
            flag_prefix="judge-",
            device=self.judge_device,
            dtype=self.judge_dtype,
            vllm_offline=self.judge_vllm_offline,
            max_request_mb=self.judge_max_request_mb,
            timeout_s=retry.timeout,
            max_connections=max_connections,
        )


def _group_parameters(group: type) -> list[inspect.Parameter]:
    hints = typing.get_type_hints(group, include_extras=True)
    parameters = []
    for field in dataclasses.fields(group):
        default = inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
        parameters.append(
            inspect.Parameter(
                field.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hints[field.name]
            )
        )
    return parameters


def with_option_groups(command: Callable[P, R]) -> Callable[..., R]:
    """`command` with each parameter annotated by an option group replaced by the group's options.

    Typer reads the returned function's signature; calling it builds each group from its options and
    passes it to `command` under the parameter's name.
    """
    signature = inspect.signature(command, eval_str=True)
    parameters: list[inspect.Parameter] = []
    groups: dict[str, type] = {}
    for parameter in signature.parameters.values():
        if is_option_group(parameter.annotation):
            groups[parameter.name] = parameter.annotation
            parameters += _group_parameters(parameter.annotation)
        else:
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    names = [p.name for p in parameters]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise TypeError(f"{command.__name__}: option groups repeat the parameters {', '.join(clashes)}")

    @functools.wraps(command)
    def expanded(**values: Any) -> R:
        for name, group in groups.items():
            values[name] = group(**{f.name: values.pop(f.name) for f in dataclasses.fields(group)})
        return command(**values)  # type: ignore[call-arg]

    expanded.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    expanded.__annotations__ = {p.name: p.annotation for p in parameters} | {
        "return": signature.return_annotation
    }
    return expanded
