"""vLLM, two ways: its OpenAI-compatible server (`vllm serve`), or the offline `vllm.LLM` engine in process.

The server path is the OpenAI-compatible backend pointed at `VLLM_BASE_URL` (default
http://127.0.0.1:8000/v1); `create_backend` builds it. The offline path (`vllm_offline=True`) loads
the model on this machine's GPU and runs micro-batches through `LLM.chat`, with a LoRA adapter through
`LoRARequest`. The engine starts on first use, so a command with nothing to send never starts it. vllm
is imported only then: it pins its own torch and CUDA build, so it lives in its own environment
(`pip install 'crosseval[vllm]'`).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from crosseval.models.data_uri import DataUriCache
from crosseval.models.errors import ConfigError
from crosseval.models.hf import DEFAULT_MAX_NEW_TOKENS
from crosseval.models.in_process import InProcessBackend, checked_adapter_sha256, module_available
from crosseval.models.openai_compat import to_openai_messages
from crosseval.models.types import BackendError, GenerationParams, GenerationRequest, GenerationResult


def _missing_vllm(reason: str) -> str:
    return (
        f"the offline vLLM engine needs the vllm package ({reason}). Install it on a CUDA GPU machine "
        "in its own environment (pip install 'crosseval[vllm]'), or start `vllm serve MODEL` and use "
        "vllm/MODEL without offline (the server path needs no vllm here)"
    )


def import_vllm() -> ModuleType:
    """The `vllm` module, or a `ConfigError` that says how to get it and what to use instead."""
    try:
        return importlib.import_module("vllm")
    except ImportError as error:
        raise ConfigError(_missing_vllm(str(error))) from None


def sampling_overrides(
    params: GenerationParams, default_max_tokens: int = DEFAULT_MAX_NEW_TOKENS
) -> dict[str, Any]:
    """`SamplingParams` fields to set over the model's defaults. Temperature 0 is greedy in vLLM."""
    overrides: dict[str, Any] = {"max_tokens": params.max_tokens or default_max_tokens}
    if params.temperature is not None:
        overrides["temperature"] = max(params.temperature, 0.0)
    if params.top_p is not None:
        overrides["top_p"] = params.top_p
    if params.seed is not None:
        overrides["seed"] = params.seed
    return overrides


def to_vllm_chat(
    request: GenerationRequest, uris: DataUriCache, default_max_tokens: int = DEFAULT_MAX_NEW_TOKENS
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One `LLM.chat` conversation (OpenAI format, images as data URIs first) and its sampling overrides."""
    return to_openai_messages(request.messages, uris), sampling_overrides(request.params, default_max_tokens)


def result_from_output(output: Any, latency_s: float) -> GenerationResult | BackendError:
    """A `GenerationResult` from a vLLM `RequestOutput` (first completion), or why there is none."""
    completions = getattr(output, "outputs", None) or []
    if not completions:
        return BackendError("empty", "vLLM returned no completion")
    completion = completions[0]
    text = getattr(completion, "text", "") or ""
    if not text.strip():
        return BackendError("empty", f"the model produced no text (finish_reason={completion.finish_reason})")
    prompt_ids = getattr(output, "prompt_token_ids", None)
    return GenerationResult(
        text=text,
        finish_reason=completion.finish_reason,
        prompt_tokens=len(prompt_ids) if prompt_ids is not None else None,
        completion_tokens=len(completion.token_ids),
        latency_s=latency_s,
    )


@dataclass(frozen=True)
class _Engine:
    """What the first use of an offline backend starts: the engine, its default sampling, the adapter."""

    llm: Any
    defaults: Any
    lora_request: Any


class VLLMOfflineBackend(InProcessBackend[_Engine]):
    """A model served by an in-process `vllm.LLM` (GPU only); concurrent calls become `LLM.chat` batches.

    Building it checks that vllm is installed and the adapter exists, and hashes the adapter; the engine
    (weights, CUDA graphs: minutes for a large model) starts on first use (`load`, or the first
    `generate`), once. A start that fails raises `ConfigError` to every caller.
    """

    def __init__(
        self,
        model: str,
        *,
        adapter: Path | None = None,
        dtype: str | None = None,
        batch_size: int = 64,
        default_max_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        max_images_per_prompt: int = 1,
        engine_args: Mapping[str, Any] | None = None,
        max_wait_s: float = 0.01,
    ) -> None:
        if not module_available("vllm"):
            raise ConfigError(_missing_vllm("No module named 'vllm'"))
        self.model = model
        self.dtype = dtype
        self.adapter = adapter
        self.adapter_sha256 = checked_adapter_sha256(adapter) if adapter is not None else None
        self.default_max_tokens = default_max_tokens
        self._engine_args: dict[str, Any] = {
            "model": model,
            "limit_mm_per_prompt": {"image": max_images_per_prompt},
            **({"dtype": dtype} if dtype is not None else {}),
            **({"enable_lora": True} if adapter is not None else {}),
            **(engine_args or {}),
        }
        self._uris = DataUriCache()
        self._load_failure = f"cannot start the vLLM engine for {model!r}"
        super().__init__(batch_size=batch_size, max_wait_s=max_wait_s)

    def _load(self) -> _Engine:
        vllm = import_vllm()
        lora_request: Any = None
        if self.adapter is not None:
            from vllm.lora.request import LoRARequest

            lora_request = LoRARequest(self.adapter.name, 1, str(self.adapter))
        llm = vllm.LLM(**self._engine_args)
        return _Engine(llm=llm, defaults=llm.get_default_sampling_params(), lora_request=lora_request)

    @property
    def identity(self) -> dict[str, Any]:
        identity: dict[str, Any] = {"provider": "vllm", "model": self.model}
        if self.dtype is not None:
            identity["dtype"] = self.dtype
        if self.adapter is not None:
            identity["adapter"] = self.adapter.name
            identity["adapter_sha256"] = self.adapter_sha256
        return identity

    @staticmethod
    def _sampling_params(engine: _Engine, overrides: Mapping[str, Any]) -> Any:
        params = engine.defaults.clone()
        for name, value in overrides.items():
            setattr(params, name, value)
        return params

    def _run_batch(
        self, engine: _Engine, requests: Sequence[GenerationRequest]
    ) -> list[GenerationResult | BackendError]:
        conversations: list[list[dict[str, Any]]] = []
        sampling: list[Any] = []
        for request in requests:
            conversation, overrides = to_vllm_chat(request, self._uris, self.default_max_tokens)
            conversations.append(conversation)
            sampling.append(self._sampling_params(engine, overrides))
        started = time.perf_counter()
        try:
            outputs = engine.llm.chat(
                conversations, sampling_params=sampling, lora_request=engine.lora_request, use_tqdm=False
            )
        except Exception as error:  # a failed batch is stored as each request's error
            failure = BackendError("backend", f"{type(error).__name__}: {error}")
            return [failure] * len(requests)
        latency_s = time.perf_counter() - started
        return [result_from_output(output, latency_s) for output in outputs]
