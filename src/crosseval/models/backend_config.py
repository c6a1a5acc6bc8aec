"""What a backend is: one typed, validated configuration, built once (from flags or YAML) and handed on.

Generation, judging and the alignment builders all receive a `BackendConfig`; none rebuilds one.
Everything that can be wrong with it (an unknown provider, an option its provider cannot use, a bad
number) raises `ConfigError` when it is made, before any backend exists or any request is sent.
Messages name the options as the user spelled them: `option_prefix` is `--` for the model under test,
`--judge-` for the judge, `--teacher-` for a teacher.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from crosseval.models.errors import ConfigError

BackendRole = Literal["model", "judge"]
"""Whose key a backend uses: the model's (`CROSSEVAL_API_KEY`) or the judge's (`CROSSEVAL_JUDGE_API_KEY` first)."""

DEFAULT_VLLM_BASE_URL = "http://127.0.0.1:8000/v1"
"""Where `vllm serve` listens by default."""


@dataclass(frozen=True)
class OpenAIEndpoint:
    """Where an OpenAI-compatible provider listens by default, and whether it needs a real key."""

    default_base_url: str | None
    key_required: bool
    base_url_variable: str | None = None
    """An environment variable that overrides `default_base_url` when `--base-url` is absent."""


OPENAI_COMPATIBLE: dict[str, OpenAIEndpoint] = {
    "openai": OpenAIEndpoint(None, key_required=True, base_url_variable="OPENAI_BASE_URL"),
    "vllm": OpenAIEndpoint(DEFAULT_VLLM_BASE_URL, key_required=False, base_url_variable="VLLM_BASE_URL"),
    "sglang": OpenAIEndpoint("http://127.0.0.1:30000/v1", key_required=False),
    "ollama": OpenAIEndpoint("http://127.0.0.1:11434/v1", key_required=False),
    "lmstudio": OpenAIEndpoint("http://127.0.0.1:1234/v1", key_required=False),
    "openrouter": OpenAIEndpoint("https://openrouter.ai/api/v1", key_required=True),
    "gemini": OpenAIEndpoint("https://generativelanguage.googleapis.com/v1beta/openai/", key_required=True),
}

PROVIDERS: tuple[str, ...] = (*OPENAI_COMPATIBLE, "hf")

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_CONNECTIONS = 32
DEFAULT_BATCH_SIZE = 8
MIB = 1024 * 1024


def split_model(model: str) -> tuple[str, str]:
    """(`provider`, `model name`) from `provider/model`; the name may itself contain slashes."""
    provider, sep, name = model.partition("/")
    if not sep or not provider or not name:
        raise ConfigError(
            f"model {model!r} must look like provider/model (e.g. openai/gpt-4o-mini); "
            f"known providers: {', '.join(PROVIDERS)}"
        )
    provider = provider.lower()
    if provider not in PROVIDERS:
        raise ConfigError(
            f"unknown provider {provider!r} in {model!r}; known providers: {', '.join(PROVIDERS)}"
        )
    return provider, name


@dataclass(frozen=True)
class BackendConfig:
    """Everything needed to build one backend. `model` is `provider/model`, e.g. `openai/gpt-4o-mini`."""

    model: str
    role: BackendRole = "model"
    base_url: str | None = None
    """OpenAI-compatible endpoint; `None`: the provider's default (or its environment variable)."""
    adapter: Path | None = None
    """A PEFT adapter folder loaded on an in-process model (hf/, vllm/ offline)."""
    device: str | None = None
    """hf/ only: auto, cpu, cuda, cuda:1, mps."""
    dtype: str | None = None
    """In-process models only: auto, float32, float16, bfloat16."""
    vllm_offline: bool = False
    """vllm/ only: run the model in this process (vllm.LLM) instead of talking to a server."""
    batch_size: int = DEFAULT_BATCH_SIZE
    """Requests an in-process model batches together; HTTP backends ignore it."""
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    timeout_s: float = DEFAULT_TIMEOUT_S
    """Time allowed for one attempt."""
    max_request_bytes: int | None = None
    """HTTP backends: refuse request bodies larger than this; `None`: the backend's default (20 MiB)."""
    max_response_bytes: int | None = None
    """HTTP backends: a reply body larger than this is a `too_large` error; `None`: the default (4 MiB)."""
    trust_remote_code: bool = False
    """hf/ only: let transformers run the model repository's own code."""
    extra_body: Mapping[str, Any] | None = None
    """HTTP backends: extra JSON fields sent with every request (provider-specific settings)."""
    default_headers: Mapping[str, str] | None = None
    engine_args: Mapping[str, Any] | None = None
    """vllm/ offline only: keyword arguments of `vllm.LLM`."""
    max_images_per_prompt: int = 1
    key_optional: bool = False
    """Build without a real key even for hosted endpoints: for a dry run, which never sends a request."""
    option_prefix: str = field(default="--", compare=False)
    """How this backend's options are spelled in messages (`--`, `--judge-`, `--teacher-`)."""

    def __post_init__(self) -> None:
        provider = self.provider
        flag = self.option_prefix
        if self.vllm_offline and provider != "vllm":
            raise ConfigError(f"{flag}vllm-offline needs a vllm/ model, not {self.model!r}")
        if self.device is not None and provider != "hf":
            raise ConfigError(
                f"{flag}device applies to hf/ models only (vLLM picks its devices itself), not {self.model!r}"
            )
        if self.dtype is not None and not self.in_process:
            raise ConfigError(
                f"{flag}dtype applies to hf/ models and vllm/ with {flag}vllm-offline, not {self.model!r}"
            )
        if self.max_request_bytes is not None and self.in_process:
            raise ConfigError(
                f"{flag}max-request-mb applies to models behind an HTTP API, not the in-process {self.model!r}"
            )
        if self.base_url is not None and self.in_process:
            raise ConfigError(
                f"{flag}base-url applies to models behind an HTTP API, not the in-process {self.model!r}"
            )
        if self.adapter is not None and not self.in_process:
            raise ConfigError(
                f"{flag}adapter is not supported for {provider}/ servers: load the adapter on the server "
                "(for vLLM: `vllm serve --enable-lora --lora-modules NAME=DIR`) and pass its NAME as the model"
            )
        if self.timeout_s <= 0:
            raise ConfigError(f"--timeout must be positive, got {self.timeout_s}")
        if self.max_connections < 1:
            raise ConfigError(f"--max-connections must be at least 1, got {self.max_connections}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.max_request_bytes is not None and self.max_request_bytes < 1:
            raise ConfigError(f"{flag}max-request-mb must be positive")
        if self.max_response_bytes is not None and self.in_process:
            raise ConfigError(
                f"{flag}max-response-mb applies to models behind an HTTP API, not the in-process {self.model!r}"
            )
        if self.max_response_bytes is not None and self.max_response_bytes < 1:
            raise ConfigError(f"{flag}max-response-mb must be positive")
        if self.adapter is not None and not self.adapter.is_dir():
            raise ConfigError(f"adapter folder {self.adapter} does not exist")

    @property
    def provider(self) -> str:
        return split_model(self.model)[0]

    @property
    def name(self) -> str:
        """The model's name at its provider (`gpt-4o-mini` of `openai/gpt-4o-mini`)."""
        return split_model(self.model)[1]

    @property
    def in_process(self) -> bool:
        """Whether the model runs in this process (hf/, vllm/ offline) rather than behind an HTTP API."""
        return self.provider == "hf" or (self.provider == "vllm" and self.vllm_offline)
