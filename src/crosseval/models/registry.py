"""From a model string (`provider/model`) and options to a ready `ModelBackend`.

Providers: `openai`, `vllm` (server, or the offline engine with `extra["offline"]`), `hf`, and aliases for
OpenAI-compatible servers with documented default URLs (`ollama`, `sglang`, `lmstudio`, `openrouter`,
`gemini`). Everything that can be wrong with a configuration (unknown provider, missing key, bad option)
raises `ConfigError` here, before any request is sent.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from crosseval.models.errors import ConfigError
from crosseval.models.keys import resolve_api_key
from crosseval.models.types import ModelBackend

if TYPE_CHECKING:
    from crosseval.models.openai_compat import OpenAICompatBackend

__all__ = [
    "PROVIDERS",
    "BackendConfig",
    "ConfigError",
    "OpenAIEndpoint",
    "create_backend",
    "open_backend",
    "split_model",
]


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


@dataclass
class BackendConfig:
    """Everything needed to build one backend. `model` is `provider/model`, e.g. `openai/gpt-4o-mini`.

    `extra` holds provider-specific options: `offline` (vllm), `max_request_bytes`, `max_response_bytes`,
    `extra_body` and `default_headers` (OpenAI-compatible), `trust_remote_code` (hf), `engine_args` and
    `max_images_per_prompt` (vllm offline).
    """

    model: str
    base_url: str | None = None
    role: Literal["model", "judge"] = "model"
    adapter: Path | None = None
    timeout_s: float = 120.0
    max_connections: int = 32
    batch_size: int = 8
    device: str | None = None
    dtype: str | None = None
    key_optional: bool = False
    """Build without a real key even for hosted endpoints: for a dry run, which never sends a request."""
    extra: dict[str, Any] = field(default_factory=dict)


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


def _check_limits(config: BackendConfig) -> None:
    if config.timeout_s <= 0:
        raise ConfigError(f"timeout must be positive, got {config.timeout_s}")
    if config.max_connections < 1:
        raise ConfigError(f"max connections must be at least 1, got {config.max_connections}")
    if config.batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {config.batch_size}")
    if config.adapter is not None and not config.adapter.is_dir():
        raise ConfigError(f"adapter folder {config.adapter} does not exist")


def _resolve_base_url(provider: str, endpoint: OpenAIEndpoint, base_url: str | None) -> str | None:
    if base_url:
        return base_url
    if endpoint.base_url_variable and os.environ.get(endpoint.base_url_variable, "").strip():
        return os.environ[endpoint.base_url_variable].strip()
    return endpoint.default_base_url


def _openai_compatible(provider: str, name: str, config: BackendConfig) -> OpenAICompatBackend:
    # Imported here: the `openai` package costs about 0.5 s, which hf/ and vLLM-offline runs never need.
    from crosseval.models.openai_compat import (
        DEFAULT_MAX_REQUEST_BYTES,
        DEFAULT_MAX_RESPONSE_BYTES,
        OpenAICompatBackend,
    )

    endpoint = OPENAI_COMPATIBLE[provider]
    if config.adapter is not None:
        raise ConfigError(
            f"--adapter is not supported for {provider}/ servers: load the adapter on the server "
            "(for vLLM: `vllm serve --enable-lora --lora-modules NAME=DIR`) and pass its NAME as the model"
        )
    base_url = _resolve_base_url(provider, endpoint, config.base_url)
    # A real key is needed for the hosted endpoints: OpenAI itself (no custom URL), OpenRouter, Gemini.
    key_required = (
        endpoint.key_required and (provider != "openai" or base_url is None) and not config.key_optional
    )
    api_key = resolve_api_key(config.role, provider, required=key_required)
    max_request_bytes = int(config.extra.get("max_request_bytes", DEFAULT_MAX_REQUEST_BYTES))
    return OpenAICompatBackend(
        provider=provider,
        model=name,
        api_key=api_key,
        base_url=base_url,
        timeout_s=config.timeout_s,
        max_connections=config.max_connections,
        max_request_bytes=max_request_bytes,
        max_response_bytes=int(config.extra.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES)),
        extra_body=config.extra.get("extra_body"),
        default_headers=config.extra.get("default_headers"),
    )


@asynccontextmanager
async def open_backend(
    config: BackendConfig, given: ModelBackend | None = None
) -> AsyncIterator[ModelBackend]:
    """`given` as it is (its owner closes it), else the backend of `config`, closed on exit.

    For commands that accept a caller's backend (tests, shared ones) and otherwise build their own.
    """
    if given is not None:
        yield given
        return
    backend = create_backend(config)
    try:
        yield backend
    finally:
        await backend.aclose()


def create_backend(config: BackendConfig) -> ModelBackend:
    """The backend for `config.model`; `ConfigError` (before any request) when it cannot work."""
    provider, name = split_model(config.model)
    _check_limits(config)
    if provider == "hf":
        from crosseval.models.hf import HFBackend

        return HFBackend(
            name,
            adapter=config.adapter,
            device=config.device,
            dtype=config.dtype,
            batch_size=config.batch_size,
            trust_remote_code=bool(config.extra.get("trust_remote_code", False)),
        )
    if provider == "vllm" and config.extra.get("offline"):
        from crosseval.models.vllm_backend import VLLMOfflineBackend

        return VLLMOfflineBackend(
            name,
            adapter=config.adapter,
            dtype=config.dtype,
            batch_size=config.batch_size,
            max_images_per_prompt=int(config.extra.get("max_images_per_prompt", 1)),
            engine_args=config.extra.get("engine_args"),
        )
    return _openai_compatible(provider, name, config)
