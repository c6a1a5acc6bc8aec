"""From a model string (`provider/model`) and options to a ready `ModelBackend`.

Providers: `openai`, `vllm` (server, or the offline engine with `vllm_offline`), `hf`, and aliases for
OpenAI-compatible servers with documented default URLs (`ollama`, `sglang`, `lmstudio`, `openrouter`,
`gemini`). Everything that can be wrong with a configuration (unknown provider, missing key, bad option)
raises `ConfigError` here, before any request is sent.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from crosseval.models.backend_config import (
    OPENAI_COMPATIBLE,
    PROVIDERS,
    BackendConfig,
    OpenAIEndpoint,
    split_model,
)
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
    base_url = _resolve_base_url(provider, endpoint, config.base_url)
    # A real key is needed for the hosted endpoints: OpenAI itself (no custom URL), OpenRouter, Gemini.
    key_required = (
        endpoint.key_required and (provider != "openai" or base_url is None) and not config.key_optional
    )
    api_key = resolve_api_key(config.role, provider, required=key_required)
    max_request_bytes = config.max_request_bytes or DEFAULT_MAX_REQUEST_BYTES
    return OpenAICompatBackend(
        provider=provider,
        model=name,
        api_key=api_key,
        base_url=base_url,
        timeout_s=config.timeout_s,
        max_connections=config.max_connections,
        max_request_bytes=max_request_bytes,
        max_response_bytes=config.max_response_bytes or DEFAULT_MAX_RESPONSE_BYTES,
        extra_body=config.extra_body,
        default_headers=config.default_headers,
    )


@asynccontextmanager
async def open_backend(
    config: BackendConfig, given: ModelBackend | None = None
) -> AsyncIterator[ModelBackend]:
    """The backend of `config`, closed on exit: the one way to open and close a backend.

    `given` replaces it as it is (a test's fake, or a backend its caller shares and closes itself).
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
    provider, name = config.provider, config.name
    if provider == "hf":
        from crosseval.models.hf import HFBackend

        return HFBackend(
            name,
            adapter=config.adapter,
            device=config.device,
            dtype=config.dtype,
            batch_size=config.batch_size,
            trust_remote_code=config.trust_remote_code,
        )
    if config.vllm_offline:
        from crosseval.models.vllm_backend import VLLMOfflineBackend

        return VLLMOfflineBackend(
            name,
            adapter=config.adapter,
            dtype=config.dtype,
            batch_size=config.batch_size,
            max_images_per_prompt=config.max_images_per_prompt,
            engine_args=config.engine_args,
        )
    return _openai_compatible(provider, name, config)
