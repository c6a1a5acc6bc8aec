"""One typed backend configuration: what each provider accepts is checked when it is made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crosseval.errors import EXIT_USAGE
from crosseval.models.backend_config import MIB, BackendConfig, split_model
from crosseval.models.errors import ConfigError


def test_typed_settings_and_derived_facts() -> None:
    offline = BackendConfig("vllm/Qwen/Qwen2.5-VL-7B-Instruct", vllm_offline=True, dtype="bfloat16")
    assert (offline.provider, offline.name, offline.in_process) == (
        "vllm",
        "Qwen/Qwen2.5-VL-7B-Instruct",
        True,
    )
    capped = BackendConfig("openai/gpt-4o", role="judge", max_request_bytes=int(1.5 * MIB))
    assert capped.max_request_bytes == int(1.5 * MIB) and not capped.in_process
    assert BackendConfig("hf/some/dir").in_process


@pytest.mark.parametrize(
    ("model", "options", "message"),
    [
        ("openai/gpt-4o", {"vllm_offline": True}, "--judge-vllm-offline needs a vllm/ model"),
        ("vllm/qwen", {"device": "cuda"}, "--judge-device applies to hf/ models only"),
        ("openai/gpt-4o", {"dtype": "float16"}, "--judge-dtype applies to hf/ models and vllm/"),
        (
            "hf/dir",
            {"max_request_bytes": 2 * MIB},
            "--judge-max-request-mb applies to models behind an HTTP API",
        ),
        (
            "hf/dir",
            {"base_url": "http://gpu:8000/v1"},
            "--judge-base-url applies to models behind an HTTP API",
        ),
        ("openai/gpt-4o", {"adapter": Path(".")}, "--judge-adapter is not supported for openai/ servers"),
        ("openai/gpt-4o", {"max_connections": 0}, "--max-connections must be at least 1"),
        ("openai/gpt-4o", {"timeout_s": 0.0}, "--timeout must be positive"),
        ("hf/dir", {"batch_size": 0}, "--batch-size must be at least 1"),
        ("nonsense", {}, "must look like provider/model"),
        ("nope/model", {}, "unknown provider 'nope'"),
    ],
)
def test_options_a_provider_cannot_use_are_refused_with_the_users_spelling(
    model: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as error:
        BackendConfig(model, role="judge", option_prefix="--judge-", **options)
    assert error.value.exit_code == EXIT_USAGE


def test_a_base_url_is_for_servers_only() -> None:
    with pytest.raises(ConfigError, match="--base-url applies"):
        BackendConfig("vllm/qwen", vllm_offline=True, base_url="http://gpu:8000/v1")
    assert BackendConfig("vllm/qwen", base_url="http://gpu:8000/v1").base_url == "http://gpu:8000/v1"


def test_split_model_keeps_slashes_in_the_name() -> None:
    assert split_model("HF/org/model") == ("hf", "org/model")
