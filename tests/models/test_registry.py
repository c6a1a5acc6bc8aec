"""`create_backend`: providers, default URLs, keys, and configuration errors raised before any request."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from crosseval.models.errors import ConfigError
from crosseval.models.openai_compat import OpenAICompatBackend
from crosseval.models.registry import PROVIDERS, BackendConfig, create_backend, open_backend, split_model
from crosseval.models.types import GenerationRequest, Message, ModelBackend
from tests.helpers.imports import modules_after
from tests.helpers.openai_server import OpenAIServer


def openai_backend(config: BackendConfig) -> OpenAICompatBackend:
    backend = create_backend(config)
    assert isinstance(backend, OpenAICompatBackend)
    return backend


async def sent_key(backend: ModelBackend, server: OpenAIServer) -> str:
    await backend.generate(GenerationRequest(messages=(Message("user", "hello"),)))
    await backend.aclose()
    headers = {name.lower(): value for name, value in server.headers[-1].items()}
    return headers["authorization"].removeprefix("Bearer ")


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        create_backend(BackendConfig(model="anthropic/claude"))

    message = str(caught.value)
    assert "'anthropic'" in message
    for provider in ("openai", "vllm", "hf", "ollama"):
        assert provider in message


@pytest.mark.parametrize("model", ["gpt-4o", "openai/", "/gpt-4o", ""])
def test_model_without_provider_is_rejected(model: str) -> None:
    with pytest.raises(ConfigError, match="provider/model"):
        split_model(model)


def test_model_names_keep_their_slashes() -> None:
    assert split_model("vllm/Qwen/Qwen2.5-VL-7B-Instruct") == ("vllm", "Qwen/Qwen2.5-VL-7B-Instruct")
    assert split_model("OpenAI/gpt-4o") == ("openai", "gpt-4o")


def test_hosted_openai_without_a_key_fails_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        create_backend(BackendConfig(model="openai/gpt-4o-mini"))

    assert "OPENAI_API_KEY" in str(caught.value)
    assert "CROSSEVAL_API_KEY" in str(caught.value)


def test_judge_without_a_key_names_the_judge_variable() -> None:
    with pytest.raises(ConfigError, match="CROSSEVAL_JUDGE_API_KEY"):
        create_backend(BackendConfig(model="openai/gpt-4o-2024-08-06", role="judge"))


@pytest.mark.parametrize("provider", ["openrouter", "gemini"])
def test_other_hosted_endpoints_need_a_key(provider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-only")
    with pytest.raises(ConfigError, match="API_KEY"):
        create_backend(BackendConfig(model=f"{provider}/some-model"))


async def test_judge_key_is_sent_to_the_judge_and_model_key_to_the_model(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSEVAL_JUDGE_API_KEY", "k-judge")
    monkeypatch.setenv("CROSSEVAL_API_KEY", "k-model")
    monkeypatch.setenv("OPENAI_API_KEY", "k-openai")

    judge = create_backend(
        BackendConfig(model="openai/gpt-4o", base_url=openai_server.base_url, role="judge")
    )
    model = create_backend(BackendConfig(model="openai/gpt-4o", base_url=openai_server.base_url))

    assert await sent_key(judge, openai_server) == "k-judge"
    assert await sent_key(model, openai_server) == "k-model"
    for backend in (judge, model):
        assert "k-" not in json.dumps(backend.identity)


async def test_local_server_without_a_key_gets_a_placeholder(openai_server: OpenAIServer) -> None:
    backend = create_backend(BackendConfig(model="openai/gpt-4o", base_url=openai_server.base_url))

    assert await sent_key(backend, openai_server) == "not-needed"


async def test_openai_base_url_variable_is_honoured(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)

    backend = openai_backend(BackendConfig(model="openai/my-model"))
    result = await backend.generate(GenerationRequest(messages=(Message("user", "hi"),)))
    await backend.aclose()

    assert result.text == "ok"
    assert openai_server.requests[0]["model"] == "my-model"


def test_explicit_base_url_wins_over_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_BASE_URL", "http://from-env:8000/v1")

    assert (
        openai_backend(BackendConfig(model="vllm/m", base_url="http://flag:9/v1")).base_url
        == "http://flag:9/v1"
    )
    assert openai_backend(BackendConfig(model="vllm/m")).base_url == "http://from-env:8000/v1"


@pytest.mark.parametrize(
    ("model", "base_url"),
    [
        ("vllm/Qwen/Qwen2.5-VL-7B-Instruct", "http://127.0.0.1:8000/v1"),
        ("ollama/llava:7b", "http://127.0.0.1:11434/v1"),
        ("sglang/m", "http://127.0.0.1:30000/v1"),
        ("lmstudio/m", "http://127.0.0.1:1234/v1"),
    ],
)
def test_local_aliases_have_default_urls_and_need_no_key(model: str, base_url: str) -> None:
    backend = openai_backend(BackendConfig(model=model))

    assert backend.base_url == base_url
    assert backend.identity == {"provider": model.split("/")[0], "model": model.split("/", 1)[1]}


def test_hosted_aliases_use_their_documented_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "k-or")
    monkeypatch.setenv("GEMINI_API_KEY", "k-gem")

    assert (
        openai_backend(BackendConfig(model="openrouter/openai/gpt-4o")).base_url
        == "https://openrouter.ai/api/v1"
    )
    gemini = openai_backend(BackendConfig(model="gemini/gemini-2.5-flash"))
    assert gemini.base_url == "https://generativelanguage.googleapis.com/v1beta/openai/"
    assert gemini.model == "gemini-2.5-flash"


def test_options_reach_the_backend() -> None:
    config = BackendConfig(model="vllm/m", timeout_s=7.5, max_connections=3, max_request_bytes=1234)

    backend = openai_backend(config)

    assert (backend.timeout_s, backend.max_request_bytes) == (7.5, 1234)


def test_adapter_on_a_server_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--enable-lora"):
        create_backend(BackendConfig(model="vllm/m", adapter=tmp_path))


def test_missing_adapter_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        create_backend(BackendConfig(model="hf/whatever", adapter=tmp_path / "nope"))


def test_offline_vllm_without_vllm_says_what_to_do() -> None:
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    with pytest.raises(ConfigError, match="vllm serve"):
        create_backend(BackendConfig(model="vllm/Qwen/Qwen2.5-VL-3B-Instruct", vllm_offline=True))


def test_every_provider_is_listed() -> None:
    assert set(PROVIDERS) == {"openai", "vllm", "sglang", "ollama", "lmstudio", "openrouter", "gemini", "hf"}


async def test_open_backend_closes_only_the_backend_it_created() -> None:
    config = BackendConfig(model="openai/local", base_url="http://127.0.0.1:9/v1")
    async with open_backend(config) as created:
        assert isinstance(created, OpenAICompatBackend)
        assert not created._client.is_closed()
    assert created._client.is_closed()

    given = create_backend(config)
    async with open_backend(BackendConfig(model="hf/never/built"), given) as used:
        assert used is given
    assert isinstance(given, OpenAICompatBackend) and not given._client.is_closed()
    await given.aclose()


def test_the_openai_package_is_imported_only_for_openai_compatible_backends() -> None:
    hf_path = modules_after("import crosseval.engine.generation, crosseval.models.registry")
    assert "openai" not in hf_path and "crosseval.models.openai_compat" not in hf_path
    served = modules_after(
        "from crosseval.models.registry import BackendConfig, create_backend\n"
        "create_backend(BackendConfig(model='vllm/some-model'))"
    )
    assert "openai" in served
