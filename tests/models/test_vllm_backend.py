"""The vLLM backend without vLLM: the missing-package message, the pure conversions, and the offline
backend's wiring checked against a recording stand-in for the `vllm` module (vLLM needs a CUDA GPU)."""

from __future__ import annotations

import asyncio
import base64
import copy
import importlib.util
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crosseval.data.prepared_image import PreparedImage
from crosseval.models.data_uri import DataUriCache
from crosseval.models.errors import ConfigError
from crosseval.models.types import BackendError, GenerationParams, GenerationRequest, Message
from crosseval.models.vllm_backend import (
    VLLMOfflineBackend,
    import_vllm,
    result_from_output,
    sampling_overrides,
    to_vllm_chat,
)

VLLM_INSTALLED = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(VLLM_INSTALLED, reason="vllm is installed here")
def test_missing_vllm_names_the_install_and_the_server_alternative() -> None:
    with pytest.raises(ConfigError) as caught:
        import_vllm()

    message = str(caught.value)
    assert "crosseval[vllm]" in message
    assert "vllm serve" in message


def test_sampling_overrides_leave_unset_values_to_the_model() -> None:
    assert sampling_overrides(GenerationParams()) == {"max_tokens": 512}
    assert sampling_overrides(GenerationParams(temperature=0.0, top_p=0.8, seed=3, max_tokens=40)) == {
        "max_tokens": 40,
        "temperature": 0.0,
        "top_p": 0.8,
        "seed": 3,
    }


def test_chat_conversion_puts_the_image_first_as_a_data_uri(png_image: PreparedImage) -> None:
    request = GenerationRequest(
        (Message("system", "Be careful."), Message("user", "Where can I buy the one shown?", (png_image,))),
        GenerationParams(temperature=0.0, max_tokens=64),
    )

    conversation, overrides = to_vllm_chat(request, DataUriCache())

    assert conversation[0] == {"role": "system", "content": "Be careful."}
    image_part, text_part = conversation[1]["content"]
    assert image_part["type"] == "image_url"
    header, payload = image_part["image_url"]["url"].split(",", 1)
    assert header == "data:image/png;base64"
    assert base64.b64decode(payload) == png_image.data
    assert text_part == {"type": "text", "text": "Where can I buy the one shown?"}
    assert overrides == {"max_tokens": 64, "temperature": 0.0}


def test_result_from_a_request_output() -> None:
    output = types.SimpleNamespace(
        prompt_token_ids=[1, 2, 3],
        outputs=[
            types.SimpleNamespace(text="A clock is a poor gift.", finish_reason="stop", token_ids=[4, 5])
        ],
    )

    result = result_from_output(output, 0.5)

    assert not isinstance(result, BackendError)
    assert (result.text, result.finish_reason, result.prompt_tokens, result.completion_tokens) == (
        "A clock is a poor gift.",
        "stop",
        3,
        2,
    )


@pytest.mark.parametrize(
    "outputs", [[], [types.SimpleNamespace(text="  ", finish_reason="stop", token_ids=[2])]]
)
def test_no_text_is_an_empty_error(outputs: list[Any]) -> None:
    result = result_from_output(types.SimpleNamespace(prompt_token_ids=[1], outputs=outputs), 0.1)

    assert isinstance(result, BackendError) and result.kind == "empty"


# --- the offline backend against a recording stand-in for vllm -----------------------------------------


@dataclass
class RecordedSampling:
    max_tokens: int = 16
    temperature: float = 0.6
    top_p: float = 0.95
    seed: int | None = None

    def clone(self) -> RecordedSampling:
        return copy.copy(self)


@dataclass
class RecordingLLM:
    """Answers each conversation with its last text part, and records every call."""

    kwargs: dict[str, Any]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def get_default_sampling_params(self) -> RecordedSampling:
        return RecordedSampling()

    def chat(self, conversations: list[Any], **kwargs: Any) -> list[Any]:
        self.calls.append({"conversations": conversations, **kwargs})
        answers = []
        for conversation in conversations:
            content = conversation[-1]["content"]
            text = content if isinstance(content, str) else content[-1]["text"]
            completion = types.SimpleNamespace(text=f"re: {text}", finish_reason="stop", token_ids=[1, 2])
            answers.append(types.SimpleNamespace(prompt_token_ids=[0] * 5, outputs=[completion]))
        return answers


@pytest.fixture
def recording_vllm(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[RecordingLLM]]:
    engines: list[RecordingLLM] = []
    module = types.ModuleType("vllm")

    def make_llm(**kwargs: Any) -> RecordingLLM:
        engines.append(RecordingLLM(kwargs))
        return engines[-1]

    module.LLM = make_llm  # type: ignore[attr-defined]
    lora = types.ModuleType("vllm.lora.request")
    lora.LoRARequest = lambda name, index, path: ("lora", name, index, path)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.lora", types.ModuleType("vllm.lora"))
    monkeypatch.setitem(sys.modules, "vllm.lora.request", lora)
    yield engines


async def test_offline_backend_batches_concurrent_requests(recording_vllm: list[RecordingLLM]) -> None:
    backend = VLLMOfflineBackend("Qwen/Qwen2.5-VL-3B-Instruct", batch_size=8, dtype="bfloat16")
    prompts = [GenerationRequest((Message("user", f"q{i}"),), GenerationParams(seed=i)) for i in range(5)]
    results = await asyncio.gather(*(backend.generate(prompt) for prompt in prompts))
    await backend.aclose()

    engine = recording_vllm[0]
    assert engine.kwargs["model"] == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert engine.kwargs["dtype"] == "bfloat16"
    assert engine.kwargs["limit_mm_per_prompt"] == {"image": 1}
    assert len(engine.calls) == 1
    call = engine.calls[0]
    assert [s.seed for s in call["sampling_params"]] == [0, 1, 2, 3, 4]
    assert all(s.temperature == 0.6 for s in call["sampling_params"])  # the model's default is kept
    assert call["lora_request"] is None
    assert [r.text for r in results] == [f"re: q{i}" for i in range(5)]
    assert backend.identity == {
        "provider": "vllm",
        "model": "Qwen/Qwen2.5-VL-3B-Instruct",
        "dtype": "bfloat16",
    }


@pytest.fixture
def adapter(tmp_path: Path) -> Path:
    """A folder that passes for a PEFT adapter (the stand-in engine never reads it)."""
    folder = tmp_path / "cultural-lora"
    folder.mkdir()
    (folder / "adapter_config.json").write_text('{"r": 8}')
    return folder


async def test_offline_backend_sends_the_adapter_as_a_lora_request(
    recording_vllm: list[RecordingLLM], adapter: Path
) -> None:
    backend = VLLMOfflineBackend("m", adapter=adapter, engine_args={"max_lora_rank": 64})
    await backend.generate(GenerationRequest((Message("user", "hi"),)))
    await backend.aclose()

    engine = recording_vllm[0]
    assert engine.kwargs["enable_lora"] is True
    assert engine.kwargs["max_lora_rank"] == 64
    assert engine.calls[0]["lora_request"] == ("lora", "cultural-lora", 1, str(adapter))
    assert backend.identity["adapter"] == "cultural-lora"
    assert len(backend.identity["adapter_sha256"]) == 64


async def test_offline_backend_stores_an_engine_failure_as_an_error(
    recording_vllm: list[RecordingLLM],
) -> None:
    backend = VLLMOfflineBackend("m")
    await backend.load()

    def explode(conversations: list[Any], **kwargs: Any) -> list[Any]:
        raise RuntimeError("CUDA out of memory")

    recording_vllm[0].chat = explode  # type: ignore[method-assign]
    with pytest.raises(BackendError) as caught:
        await backend.generate(GenerationRequest((Message("user", "hi"),)))
    await backend.aclose()

    assert caught.value.kind == "backend"
    assert "CUDA out of memory" in caught.value.message


async def test_building_and_identity_start_no_engine(
    recording_vllm: list[RecordingLLM], adapter: Path
) -> None:
    backend = VLLMOfflineBackend("m", adapter=adapter, dtype="float16")

    assert backend.identity["dtype"] == "float16" and len(backend.identity["adapter_sha256"]) == 64
    assert recording_vllm == [] and not backend.loaded
    await backend.load()
    await backend.load()
    assert len(recording_vllm) == 1 and backend.loaded


async def test_an_engine_that_cannot_start_is_one_config_error_for_every_caller(
    recording_vllm: list[RecordingLLM], monkeypatch: pytest.MonkeyPatch
) -> None:
    starts: list[dict[str, Any]] = []

    def out_of_memory(**kwargs: Any) -> Any:
        starts.append(kwargs)
        raise ValueError("No available memory for the cache blocks")

    monkeypatch.setattr(sys.modules["vllm"], "LLM", out_of_memory)
    backend = VLLMOfflineBackend("Qwen/Qwen2.5-VL-72B-Instruct", batch_size=2)
    prompts = [GenerationRequest((Message("user", f"q{i}"),)) for i in range(5)]

    outcomes = await asyncio.gather(*(backend.generate(p) for p in prompts), return_exceptions=True)
    with pytest.raises(ConfigError, match="No available memory"):
        await backend.load()
    await backend.aclose()

    assert len(starts) == 1
    assert all(isinstance(outcome, ConfigError) for outcome in outcomes)
    assert str(outcomes[0]) == (
        "cannot start the vLLM engine for 'Qwen/Qwen2.5-VL-72B-Instruct': "
        "ValueError: No available memory for the cache blocks"
    )


@pytest.mark.skipif(VLLM_INSTALLED, reason="vllm is installed here")
def test_building_without_vllm_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"crosseval\[vllm\]"):
        VLLMOfflineBackend("m")
