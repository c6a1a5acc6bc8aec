"""Options several commands share, each written once.

Single options are `Annotated` aliases (`DataOption`, `ImagesOption`, ...). Options that travel together
are *option groups*: frozen dataclasses whose fields are annotated typer options (`SampleSelection`,
`ModelOptions`, `JudgeOptions`, `RetryOptions`). A command takes a group as one parameter:

    @with_option_groups
    def generate(model: ModelOptions, selection: SampleSelection, retry: RetryOptions, ...) -> None:
        benchmark = selection.load()

`with_option_groups` shows typer the group's fields as the command's own options (same flags, same help)
and calls the command with the dataclass built from the parsed values.

Every option is made by `option` (takes a value: an upper-case metavar, a help panel, what an unset
default means) or `flag` (on/off, no metavar), so all commands' `--help` read alike (see `helptext`).
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
    default_run_dir,
    fail,
    load_benchmark_or_exit,
    load_config_defaults,
    warn,
)
from crosseval.cli.helptext import (
    PANEL_CONCURRENCY,
    PANEL_DATA,
    PANEL_JUDGE,
    PANEL_MODEL,
    PANEL_ORDER,
    PANEL_OUTPUT,
    PANEL_SAMPLING,
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


def option(
    *flags: str,
    help: str,
    metavar: str,
    panel: str | None = None,
    when_unset: str | None = None,
    **settings: Any,
) -> Any:
    """A typer option that takes a value, named `metavar` in `--help` and listed in `panel`.

    `when_unset` says what happens when an option whose Python default is None is not given; `--help` shows
    it as `[default: (when_unset)]`. A real default value shows as `[default: value]` by itself.
    """
    return typer.Option(
        *flags,
        help=help,
        metavar=metavar,
        rich_help_panel=panel,
        show_default=True if when_unset is None else when_unset,
        **settings,
    )


def flag(*flags: str, help: str, panel: str | None = None, **settings: Any) -> Any:
    """A typer on/off option: no value, so `--help` shows no metavar for it."""
    return typer.Option(*flags, help=help, metavar="", rich_help_panel=panel, **settings)


def data_option(panel: str = PANEL_DATA, help: str | None = None) -> Any:
    """`--data`, repeatable; `help` says what the data is for where that is not the samples to run."""
    return option(
        "--data",
        metavar="PATH",
        panel=panel,
        when_unset="the CROSS release, downloaded once",
        help=help or "CROSS folder (upstream layout) or data file (JSON array or JSONL); repeatable.",
    )


def images_option(panel: str = PANEL_DATA) -> Any:
    return option(
        "--images",
        metavar="DIR",
        panel=panel,
        help="Images root (<root>/<subset>/<name>) for data files given alone.",
    )


DataOption = Annotated[list[Path] | None, data_option()]
ImagesOption = Annotated[Path | None, images_option()]
SubsetOption = Annotated[
    list[str] | None,
    option(
        "--subset", metavar="SUBSET", panel=PANEL_DATA, help="Keep a subset: casa, safeworld; repeatable."
    ),
]
SettingOption = Annotated[
    list[str] | None,
    option(
        "--setting",
        metavar="SETTING",
        panel=PANEL_DATA,
        help="Keep a setting: english, multilingual; repeatable.",
    ),
]
CountryOption = Annotated[
    list[str] | None,
    option(
        "--country",
        metavar="COUNTRY",
        panel=PANEL_DATA,
        help="Keep a country, e.g. 'Saudi Arabia'; repeatable.",
    ),
]
LanguageOption = Annotated[
    list[str] | None,
    option(
        "--language",
        metavar="LANGUAGE",
        panel=PANEL_DATA,
        help="Keep a language, by name or ISO code (Persian, fa); repeatable.",
    ),
]
VariantOption = Annotated[
    list[int] | None,
    option("--variant", metavar="N", panel=PANEL_DATA, help="Keep a paraphrase block, 1 to 3; repeatable."),
]
IdOption = Annotated[
    list[str] | None,
    option(
        "--id",
        metavar="ID",
        panel=PANEL_DATA,
        help="Keep a sample id, or a base id with all its variants (casa/Japan_1); repeatable.",
    ),
]
LimitOption = Annotated[
    int | None,
    option(
        "--limit",
        metavar="N",
        panel=PANEL_DATA,
        min=0,
        when_unset="all",
        help="Keep the first N samples left by the other filters.",
    ),
]
DomainOverridesOption = Annotated[
    Path | None,
    option(
        "--domain-overrides",
        metavar="FILE",
        panel=PANEL_DATA,
        help="JSON or CSV mapping ids to domains: shopping, meal_planning, outdoor_activities.",
    ),
]
JsonOption = Annotated[bool, flag("--json", help="Print JSON instead of tables.")]
JudgeConfigOption = Annotated[
    str | None,
    option(
        "--judge-config",
        metavar="NAME",
        when_unset="each, a row per config",
        help="Judge configuration to read: an id, or a prefix of one.",
    ),
]
ConfigFileOption = Annotated[
    Path | None,
    option(
        "--config",
        metavar="FILE",
        is_eager=True,
        callback=load_config_defaults,
        help="YAML file holding any of these options; flags given here win.",
    ),
]


BACKEND_OPTIONS: dict[str, dict[str, Any]] = {
    "device": {
        "metavar": "DEVICE",
        "when_unset": "auto",
        "help": "Device of an hf/ model: auto, cpu, cuda, cuda:1, mps.",
    },
    "dtype": {
        "metavar": "DTYPE",
        "when_unset": "float32 on CPU, else auto",
        "help": "Weights of an in-process model: auto, float32, float16, bfloat16.",
    },
    "max-request-mb": {
        "metavar": "MIB",
        "min": 0.001,
        "when_unset": "20 MiB",
        "help": "Largest request body sent to an HTTP API; larger ones fail as too_large.",
    },
}
"""The settings of the backend options the model (`--device`) and the judge (`--judge-device`) both have."""


def _backend_option(name: str, prefix: str, panel: str) -> Any:
    """`--<prefix><name>`, one of `BACKEND_OPTIONS`, listed in `panel`."""
    return option(f"--{prefix}{name}", panel=panel, **BACKEND_OPTIONS[name])


def _vllm_offline_option(name: str, panel: str) -> Any:
    return flag(name, panel=panel, help="Run a vllm/ model in this process (vllm.LLM) instead of a server.")


BaseUrlOption = Annotated[
    str | None,
    option(
        "--base-url",
        metavar="URL",
        panel=PANEL_MODEL,
        when_unset="the provider's",
        help="OpenAI-compatible endpoint: a vLLM, SGLang or Ollama server.",
    ),
]
MaxAttemptsOption = Annotated[
    int,
    option(
        "--max-attempts",
        metavar="N",
        panel=PANEL_CONCURRENCY,
        min=1,
        help="Attempts per request, retries included.",
    ),
]
DeviceOption = Annotated[str | None, _backend_option("device", "", PANEL_MODEL)]
DtypeOption = Annotated[str | None, _backend_option("dtype", "", PANEL_MODEL)]


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

    max_attempts: MaxAttemptsOption = 6
    timeout: Annotated[
        float,
        option(
            "--timeout",
            metavar="SECONDS",
            panel=PANEL_CONCURRENCY,
            min=0.001,
            help="Time allowed for one attempt.",
        ),
    ] = 120.0
    retry_base_delay: Annotated[
        float,
        option(
            "--retry-base-delay",
            metavar="SECONDS",
            panel=PANEL_CONCURRENCY,
            min=0.0,
            help="First backoff ceiling; it doubles with each retry.",
        ),
    ] = 1.0
    retry_errors: Annotated[
        bool,
        flag("--retry-errors", panel=PANEL_CONCURRENCY, help="Send again the requests stored as failed."),
    ] = False
    progress: Annotated[
        bool, flag("--progress/--no-progress", panel=PANEL_OUTPUT, help="Live progress on stderr.")
    ] = True

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
        option(
            "--model",
            metavar="MODEL",
            panel=PANEL_MODEL,
            help="Model under test, provider/model: openai/gpt-4o-mini, vllm/NAME, hf/DIR.",
        ),
    ]
    base_url: BaseUrlOption = None
    adapter: Annotated[
        Path | None,
        option(
            "--adapter",
            metavar="DIR",
            panel=PANEL_MODEL,
            help="PEFT adapter to load on the model (hf/, vllm/).",
        ),
    ] = None
    device: DeviceOption = None
    dtype: DtypeOption = None
    vllm_offline: Annotated[bool, _vllm_offline_option("--vllm-offline", PANEL_MODEL)] = False
    batch_size: Annotated[
        int,
        option(
            "--batch-size",
            metavar="N",
            panel=PANEL_MODEL,
            min=1,
            help="Samples per batch of an in-process model.",
        ),
    ] = 8
    max_request_mb: Annotated[float | None, _backend_option("max-request-mb", "", PANEL_MODEL)] = None
    rounds: Annotated[
        int,
        option(
            "--rounds",
            metavar="N",
            panel=PANEL_SAMPLING,
            min=1,
            help="Responses per sample; the paper uses 3.",
        ),
    ] = 3
    temperature: Annotated[
        float | None,
        option(
            "--temperature",
            metavar="FLOAT",
            panel=PANEL_SAMPLING,
            when_unset="the model's",
            help="Sampling temperature.",
        ),
    ] = None
    top_p: Annotated[
        float | None,
        option(
            "--top-p",
            metavar="FLOAT",
            panel=PANEL_SAMPLING,
            when_unset="the model's",
            help="Nucleus sampling mass.",
        ),
    ] = None
    max_tokens: Annotated[
        int | None,
        option(
            "--max-tokens",
            metavar="N",
            panel=PANEL_SAMPLING,
            min=1,
            when_unset="the model's",
            help="Longest response, in tokens.",
        ),
    ] = None
    seed: Annotated[
        int | None,
        option(
            "--seed",
            metavar="N",
            panel=PANEL_SAMPLING,
            when_unset="none",
            help="Sampling seed, where supported.",
        ),
    ] = None
    reasoning_effort: Annotated[
        ReasoningEffortChoice | None,
        option(
            "--reasoning-effort",
            metavar="LEVEL",
            panel=PANEL_SAMPLING,
            when_unset="the model's",
            help="Effort of a reasoning model: low, medium or high.",
        ),
    ] = None
    max_image_side: Annotated[
        int | None,
        option(
            "--max-image-side",
            "--max-side",
            metavar="PX",
            panel=PANEL_SAMPLING,
            min=16,
            when_unset=str(DEFAULT_MAX_IMAGE_SIDE),
            help="Longest image side sent, in pixels; larger images are scaled down.",
        ),
    ] = None
    max_connections: Annotated[
        int,
        option(
            "--max-connections", metavar="N", panel=PANEL_CONCURRENCY, min=1, help="Model requests in flight."
        ),
    ] = 32
    run_dir: Annotated[
        Path | None,
        option(
            "--run-dir",
            metavar="DIR",
            panel=PANEL_OUTPUT,
            when_unset="runs/<model>",
            help="Run directory; the same one resumes.",
        ),
    ] = None

    @property
    def target(self) -> Path:
        """`--run-dir`, else `runs/<model>`."""
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

    def backend_config(self, retry: RetryOptions) -> BackendConfig:
        """The model under test as a backend configuration; an option its provider cannot use raises `ConfigError`."""
        from crosseval.models.backend_config import MIB, BackendConfig

        return BackendConfig(
            model=self.model,
            role="model",
            base_url=self.base_url,
            adapter=self.adapter,
            device=self.device,
            dtype=self.dtype,
            vllm_offline=self.vllm_offline,
            batch_size=self.batch_size,
            max_connections=self.max_connections,
            timeout_s=retry.timeout,
            max_request_bytes=None if self.max_request_mb is None else int(self.max_request_mb * MIB),
            option_prefix="--",
        )

    def generation_config(self, retry: RetryOptions, *, dry_run: bool = False) -> GenerationConfig:
        from crosseval.data.images import ImageOptions
        from crosseval.engine.generation import GenerationConfig

        image_options = ImageOptions() if self.max_image_side is None else ImageOptions(self.max_image_side)
        return GenerationConfig(
            backend=self.backend_config(retry),
            params=self.params(),
            rounds=self.rounds,
            retry=retry.policy(),
            image_options=image_options,
            retry_errors=retry.retry_errors,
            dry_run=dry_run,
            show_progress=retry.progress,
        )


@option_group
@dataclass(frozen=True)
class JudgeOptions:
    """The CROSS-Eval judge and how it is asked (`judge`, `run`)."""

    judge: Annotated[
        str,
        option(
            "--judge",
            metavar="MODEL",
            panel=PANEL_JUDGE,
            help="Judge, provider/model; the paper: openai/gpt-4o-2024-08-06.",
        ),
    ]
    judge_base_url: Annotated[
        str | None,
        option(
            "--judge-base-url",
            metavar="URL",
            panel=PANEL_JUDGE,
            when_unset="the provider's",
            help="Judge endpoint; its key: CROSSEVAL_JUDGE_API_KEY, else the model's.",
        ),
    ] = None
    protocol: Annotated[
        str,
        option(
            "--protocol",
            metavar="NAME",
            panel=PANEL_JUDGE,
            help="paper: one call per dimension, as in the paper; single: one JSON call.",
        ),
    ] = "paper"
    rubric: Annotated[
        Path | None,
        option(
            "--rubric",
            metavar="DIR",
            panel=PANEL_JUDGE,
            when_unset="the built-in set",
            help="Rubric set of your own, with the built-in set's files.",
        ),
    ] = None
    max_reasks: Annotated[
        int,
        option(
            "--max-reasks",
            metavar="N",
            panel=PANEL_JUDGE,
            min=0,
            help="Follow-ups asking for the final 0 or 1 when a verdict is unreadable.",
        ),
    ] = 2
    judge_device: Annotated[str | None, _backend_option("device", "judge-", PANEL_JUDGE)] = None
    judge_dtype: Annotated[str | None, _backend_option("dtype", "judge-", PANEL_JUDGE)] = None
    judge_vllm_offline: Annotated[bool, _vllm_offline_option("--judge-vllm-offline", PANEL_JUDGE)] = False
    judge_max_request_mb: Annotated[
        float | None, _backend_option("max-request-mb", "judge-", PANEL_JUDGE)
    ] = None

    def backend_config(self, max_connections: int, retry: RetryOptions) -> BackendConfig:
        """The judge as a backend configuration (the judge's key); bad options raise `ConfigError`."""
        from crosseval.models.backend_config import MIB, BackendConfig

        return BackendConfig(
            model=self.judge,
            role="judge",
            base_url=self.judge_base_url,
            device=self.judge_device,
            dtype=self.judge_dtype,
            vllm_offline=self.judge_vllm_offline,
            max_connections=max_connections,
            timeout_s=retry.timeout,
            max_request_bytes=None
            if self.judge_max_request_mb is None
            else int(self.judge_max_request_mb * MIB),
            option_prefix="--judge-",
        )

    def judge_config(self, max_connections: int, retry: RetryOptions) -> JudgeConfig:
        """The judge configuration, its rubric set loaded and checked (`RubricError`, `ConfigError`)."""
        from crosseval.judge.rubrics import load_rubric_set
        from crosseval.judge.runner import JudgeConfig

        protocol = parse_protocol(self.protocol)
        return JudgeConfig(
            backend=self.backend_config(max_connections, retry),
            protocol=protocol,
            rubric=load_rubric_set(self.rubric, protocol),
            policy=retry.policy(),
            max_reasks=self.max_reasks,
            show_progress=retry.progress,
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


def _panel_rank(annotation: Any) -> int:
    """Where the help panel of an `Annotated` typer parameter comes in `PANEL_ORDER` (0: no panel)."""
    panels = [getattr(extra, "rich_help_panel", None) for extra in typing.get_args(annotation)[1:]]
    panel = next((name for name in panels if name), None)
    if panel is None:
        return 0
    return PANEL_ORDER.index(panel) + 1 if panel in PANEL_ORDER else len(PANEL_ORDER) + 1


def with_option_groups(command: Callable[P, R]) -> Callable[..., R]:
    """`command` with each parameter annotated by an option group replaced by the group's options.

    Typer reads the returned function's signature; calling it builds each group from its options and
    passes it to `command` under the parameter's name. The options are listed panel by panel, in
    `PANEL_ORDER`, so `--help` shows the panels alike in every command; within a panel they keep their order.
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
    parameters.sort(key=lambda parameter: _panel_rank(parameter.annotation))
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
