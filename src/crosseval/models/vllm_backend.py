"""vLLM, two ways: its OpenAI-compatible server (`vllm serve`), or the offline `vllm.LLM` engine in process.

The server path is the OpenAI-compatible backend pointed at `VLLM_BASE_URL` (default
http://127.0.0.1:8000/v1); `create_backend` builds it. The offline path (`extra["offline"] = True`) loads
the model on this machine's GPU and runs micro-batches through `LLM.chat`, with a LoRA adapter through
`LoRARequest`. vllm is imported only when an offline backend is built: it pins its own torch and CUDA
build, so it lives in its own environment (`pip install 'crosseval[vllm]'`).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from crosseval.models.data_uri import DataUriCache
from crosseval.models.errors import ConfigError
from crosseval.models.hf import DEFAULT_MAX_NEW_TOKENS, directory_sha256
from crosseval.models.micro_batcher import MicroBatcher
from crosseval.models.openai_compat import to_openai_messages
from crosseval.models.types import BackendError, GenerationParams, GenerationRequest, GenerationResult


def import_vllm() -> ModuleType:
    """The `vllm` module, or a `ConfigError` that says how to get it and what to use instead."""
    try:
        return importlib.import_module("vllm")
    except ImportError as error:
        raise ConfigError(
            f"the offline vLLM engine needs the vllm package ({error}). Install it on a CUDA GPU machine "
            "in its own environment (pip install 'crosseval[vllm]'), or start `vllm serve MODEL` and use "
            "vllm/MODEL without offline (the server path needs no vllm here)"
        ) from None


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


class VLLMOfflineBackend:
    """A model served by an in-process `vllm.LLM` (GPU only); concurrent calls become `LLM.chat` batches."""

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
        vllm = import_vllm()
        self.model = model
        self.dtype = dtype
        self.adapter = adapter
        self.adapter_sha256: str | None = None
        self.default_max_tokens = default_max_tokens
        args: dict[str, Any] = {"model": model, "limit_mm_per_prompt": {"image": max_images_per_prompt}}
        if dtype is not None:
            args["dtype"] = dtype
        self._lora_request: Any = None
        if adapter is not None:
            if not (adapter / "adapter_config.json").is_file():
                raise ConfigError(f"{adapter} is not a PEFT adapter folder (no adapter_config.json)")
            self.adapter_sha256 = directory_sha256(adapter)
            from vllm.lora.request import LoRARequest

            args["enable_lora"] = True
            self._lora_request = LoRARequest(adapter.name, 1, str(adapter))
        args.update(engine_args or {})
        self._vllm = vllm
        self._llm = vllm.LLM(**args)
        self._defaults = self._llm.get_default_sampling_params()
        self._uris = DataUriCache()
        self._batcher: MicroBatcher[GenerationRequest, GenerationResult] = MicroBatcher(
            self._run_batch, max_batch=batch_size, max_wait_s=max_wait_s
        )

    @property
    def identity(self) -> dict[str, Any]:
        identity: dict[str, Any] = {"provider": "vllm", "model": self.model}
        if self.dtype is not None:
            identity["dtype"] = self.dtype
        if self.adapter is not None:
            identity["adapter"] = self.adapter.name
            identity["adapter_sha256"] = self.adapter_sha256
        return identity

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        return await self._batcher.submit(request)

    async def aclose(self) -> None:
        await self._batcher.aclose()

    def _sampling_params(self, overrides: Mapping[str, Any]) -> Any:
        params = self._defaults.clone()
        for name, value in overrides.items():
            setattr(params, name, value)
        return params

    def _run_batch(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult | BackendError]:
        conversations: list[list[dict[str, Any]]] = []
        sampling: list[Any] = []
        for request in requests:
            conversation, overrides = to_vllm_chat(request, self._uris, self.default_max_tokens)
            conversations.append(conversation)
            sampling.append(self._sampling_params(overrides))
        started = time.perf_counter()
        try:
            outputs = self._llm.chat(
                conversations, sampling_params=sampling, lora_request=self._lora_request, use_tqdm=False
            )
        except Exception as error:  # a failed batch is stored as each request's error
            failure = BackendError("backend", f"{type(error).__name__}: {error}")
            return [failure] * len(requests)
        latency_s = time.perf_counter() - started
        return [result_from_output(output, latency_s) for output in outputs]
