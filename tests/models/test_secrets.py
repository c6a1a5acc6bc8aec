"""The process-wide secret registry: what is registered, what `redact` removes, how URLs are shown."""

from __future__ import annotations

import base64

import pytest

from crosseval.models.keys import PLACEHOLDER_API_KEY, resolve_api_key
from crosseval.models.openai_compat import OpenAICompatBackend
from crosseval.models.secrets import (
    public_url,
    redact,
    register_secret,
    register_url_credentials,
    url_credentials,
    without_credentials,
)


def test_a_registered_secret_is_redacted_wherever_it_appears() -> None:
    register_secret("sk-registry-test-0001")

    assert redact("key sk-registry-test-0001, again sk-registry-test-0001.") == "key ***, again ***."
    assert redact("nothing secret here") == "nothing secret here"


def test_a_longer_secret_that_contains_a_shorter_one_is_redacted_whole() -> None:
    register_secret("inner-secret-02")
    register_secret("outer-inner-secret-02-tail")

    assert redact("[outer-inner-secret-02-tail]") == "[***]"


def test_short_values_are_not_treated_as_secrets_so_answers_stay_intact() -> None:
    register_secret("pass")
    register_secret("")
    register_secret(None)

    assert redact("a passport is needed") == "a passport is needed"


def test_resolved_api_keys_are_registered_for_model_and_judge() -> None:
    resolve_api_key("model", required=True, environ={"OPENAI_API_KEY": "sk-model-key-0003"})
    resolve_api_key("judge", required=True, environ={"CROSSEVAL_JUDGE_API_KEY": "sk-judge-key-0004"})

    assert redact("sk-model-key-0003 / sk-judge-key-0004") == "*** / ***"


def test_a_backend_registers_its_key_but_not_the_placeholder() -> None:
    OpenAICompatBackend(provider="openai", model="m", api_key="sk-given-key-0005", base_url=None)
    OpenAICompatBackend(provider="vllm", model="m", api_key=PLACEHOLDER_API_KEY, base_url="http://h:1/v1")

    assert redact("sk-given-key-0005") == "***"
    assert redact(f"the key is {PLACEHOLDER_API_KEY}") == f"the key is {PLACEHOLDER_API_KEY}"


def test_url_credentials_are_registered_with_their_basic_auth_form() -> None:
    register_url_credentials("https://alice:p%40ssword-0006@host.example/v1")
    header = base64.b64encode(b"alice:p@ssword-0006").decode("ascii")

    assert redact("p@ssword-0006") == "***"
    assert redact("alice:p@ssword-0006") == "***"
    assert redact(f"Basic {header}") == "Basic ***"
    assert redact("alice") == "alice"


def test_a_token_in_the_user_slot_is_a_secret() -> None:
    register_url_credentials("https://tok-user-slot-0007@host.example/v1")

    assert redact("tok-user-slot-0007") == "***"


@pytest.mark.parametrize(
    ("url", "credentials"),
    [
        ("http://u:p@h/v1", ("u", "p")),
        ("http://tok@h/v1", ("tok", "")),
        ("http://a%3Ab:c%2Fd@h/v1", ("a:b", "c/d")),
        ("http://h:8000/v1", None),
        (None, None),
    ],
)
def test_url_credentials_are_read_percent_decoded(
    url: str | None, credentials: tuple[str, str] | None
) -> None:
    assert url_credentials(url) == credentials


def test_urls_are_shown_without_credentials() -> None:
    url = "https://user:pw@[::1]:8443/v1?api-key=abc#frag"

    assert without_credentials(url) == "https://[::1]:8443/v1?api-key=abc#frag"
    assert public_url(url) == "https://[::1]:8443/v1"
    assert public_url("http://Host.example/v1") == "http://Host.example/v1"
    assert without_credentials("http://h/v1") == "http://h/v1"
    assert public_url(None) is None
