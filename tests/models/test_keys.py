"""API keys come from the environment in a fixed order per role; a missing required key names what to set."""

from __future__ import annotations

import pytest

from crosseval.models.errors import ConfigError
from crosseval.models.keys import PLACEHOLDER_API_KEY, key_variables, resolve_api_key


def test_model_role_prefers_crosseval_key_over_openai_key() -> None:
    env = {"CROSSEVAL_API_KEY": "k-crosseval", "OPENAI_API_KEY": "k-openai"}

    assert resolve_api_key("model", required=True, environ=env) == "k-crosseval"
    assert resolve_api_key("model", required=True, environ={"OPENAI_API_KEY": "k-openai"}) == "k-openai"


def test_judge_role_prefers_judge_key_then_crosseval_then_openai() -> None:
    full = {
        "CROSSEVAL_JUDGE_API_KEY": "k-judge",
        "CROSSEVAL_API_KEY": "k-crosseval",
        "OPENAI_API_KEY": "k-openai",
    }

    assert resolve_api_key("judge", required=True, environ=full) == "k-judge"
    del full["CROSSEVAL_JUDGE_API_KEY"]
    assert resolve_api_key("judge", required=True, environ=full) == "k-crosseval"
    del full["CROSSEVAL_API_KEY"]
    assert resolve_api_key("judge", required=True, environ=full) == "k-openai"


def test_model_role_never_reads_the_judge_key() -> None:
    with pytest.raises(ConfigError):
        resolve_api_key("model", required=True, environ={"CROSSEVAL_JUDGE_API_KEY": "k-judge"})


def test_blank_variables_are_skipped() -> None:
    env = {"CROSSEVAL_API_KEY": "  ", "OPENAI_API_KEY": "k-openai"}

    assert resolve_api_key("model", required=True, environ=env) == "k-openai"


def test_missing_required_key_names_the_variables() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_api_key("judge", required=True, environ={})

    message = str(caught.value)
    assert "CROSSEVAL_JUDGE_API_KEY" in message
    assert "CROSSEVAL_API_KEY" in message
    assert "OPENAI_API_KEY" in message


def test_local_servers_get_a_placeholder() -> None:
    assert resolve_api_key("model", "vllm", required=False, environ={}) == PLACEHOLDER_API_KEY


def test_other_hosted_providers_do_not_receive_the_openai_key() -> None:
    env = {"OPENAI_API_KEY": "k-openai"}

    assert "OPENAI_API_KEY" not in key_variables("model", "openrouter")
    with pytest.raises(ConfigError, match="OPENROUTER_API_KEY"):
        resolve_api_key("model", "openrouter", required=True, environ=env)
    assert resolve_api_key("model", "gemini", required=True, environ={"GEMINI_API_KEY": "k-g"}) == "k-g"


def test_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k-from-env")

    assert resolve_api_key("model", required=True) == "k-from-env"
