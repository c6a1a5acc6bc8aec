"""The OpenAI-compatible backend against a real loopback HTTP server, through the real `openai` client."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path
from time import time
from typing import Any

import pytest

from crosseval.data.prepared_image import PreparedImage
from crosseval.models import openai_compat
from crosseval.models.data_uri import DataUriCache
from crosseval.models.openai_compat import (
    OpenAICompatBackend,
    build_chat_body,
    estimate_body_bytes,
    is_reasoning_model,
    parse_retry_after,
)
from crosseval.models.types import (
    BackendError,
    GenerationParams,
    GenerationRequest,
    GenerationResult,
    Message,
)
from tests.helpers.openai_server import OpenAIServer, Reply, closed_port, completion_body, reflecting

SECRET = "sk-test-SECRET-0123456789abcdef"


def make_backend(base_url: str, *, model: str = "gpt-4o-mini", **kwargs: Any) -> OpenAICompatBackend:
    options: dict[str, Any] = {"timeout_s": 5.0, "max_connections": 8}
    options.update(kwargs)
    return OpenAICompatBackend(provider="openai", model=model, api_key=SECRET, base_url=base_url, **options)


def ask(text: str = "Is this a good gift?", *images: PreparedImage, **params: Any) -> GenerationRequest:
    return GenerationRequest(
        messages=(Message("system", "You are a careful assistant."), Message("user", text, tuple(images))),
        params=GenerationParams(**params),
    )


@pytest.fixture
async def backend(openai_server: OpenAIServer) -> AsyncIterator[OpenAICompatBackend]:
    instance = make_backend(openai_server.base_url)
    yield instance
    await instance.aclose()


async def error_from(backend: OpenAICompatBackend) -> BackendError:
    """The error one request through `backend` ends with; `backend` is closed afterwards."""
    with pytest.raises(BackendError) as caught:
        await backend.generate(ask())
    await backend.aclose()
    return caught.value


async def fail_with(server: OpenAIServer, backend: OpenAICompatBackend, reply: Reply) -> BackendError:
    server.script = lambda body, n: reply
    with pytest.raises(BackendError) as caught:
        await backend.generate(ask())
    return caught.value


# --- request body -----------------------------------------------------------------------------------


async def test_images_are_data_uris_with_their_mime_before_the_text(
    openai_server: OpenAIServer,
    backend: OpenAICompatBackend,
    png_image: PreparedImage,
    jpeg_image: PreparedImage,
) -> None:
    result = await backend.generate(ask("Where can I buy the one shown?", png_image, jpeg_image))

    assert result.text == "ok"
    body = openai_server.requests[0]
    assert body["model"] == "gpt-4o-mini"
    system, user = body["messages"]
    assert system == {"role": "system", "content": "You are a careful assistant."}
    assert [part["type"] for part in user["content"]] == ["image_url", "image_url", "text"]
    png_uri = user["content"][0]["image_url"]["url"]
    jpeg_uri = user["content"][1]["image_url"]["url"]
    assert png_uri.startswith("data:image/png;base64,")
    assert jpeg_uri.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(png_uri.split(",", 1)[1]) == png_image.data
    assert base64.b64decode(jpeg_uri.split(",", 1)[1]) == jpeg_image.data
    assert user["content"][2] == {"type": "text", "text": "Where can I buy the one shown?"}


async def test_translated_query_from_the_benchmark_arrives_verbatim(
    openai_server: OpenAIServer, backend: OpenAICompatBackend, cross_sample: Path, png_image: PreparedImage
) -> None:
    records = json.loads((cross_sample / "casa" / "multilingual.json").read_text(encoding="utf-8"))
    translated = records[0]["translated_query"]

    await backend.generate(ask(translated, png_image))

    assert openai_server.requests[0]["messages"][1]["content"][-1]["text"] == translated


async def test_unset_parameters_are_not_sent(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    await backend.generate(ask())

    sent = set(openai_server.requests[0])
    assert sent == {"model", "messages"}


async def test_sampling_parameters_are_sent(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "v", "schema": {"type": "object"}}}
    await backend.generate(ask(temperature=0.0, top_p=0.9, seed=7, max_tokens=64, response_format=schema))

    body = openai_server.requests[0]
    assert body["temperature"] == 0.0
    assert body["top_p"] == 0.9
    assert body["seed"] == 7
    assert body["max_tokens"] == 64
    assert "max_completion_tokens" not in body
    assert body["response_format"] == schema


@pytest.mark.parametrize("model", ["o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5-mini"])
async def test_reasoning_models_get_max_completion_tokens(openai_server: OpenAIServer, model: str) -> None:
    backend = make_backend(openai_server.base_url, model=model)
    await backend.generate(ask(max_tokens=300))
    await backend.aclose()

    body = openai_server.requests[0]
    assert body["max_completion_tokens"] == 300
    assert "max_tokens" not in body


async def test_reasoning_effort_is_passed_through_with_max_completion_tokens(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    await backend.generate(ask(max_tokens=100, reasoning_effort="high"))

    body = openai_server.requests[0]
    assert body["reasoning_effort"] == "high"
    assert body["max_completion_tokens"] == 100
    assert "max_tokens" not in body


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("o1", True),
        ("o3-mini", True),
        ("openai/o4-mini", True),
        ("gpt-5.1", True),
        ("gpt-4o", False),
        ("gpt-4.1-mini", False),
        ("omni-vision", False),
        ("Qwen/Qwen2.5-VL-7B-Instruct", False),
    ],
)
def test_is_reasoning_model(model: str, expected: bool) -> None:
    assert is_reasoning_model(model) is expected


async def test_usage_and_latency_are_reported(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    openai_server.script = lambda body, n: Reply(text="A clock evokes death in China.", delay_s=0.05)

    result = await backend.generate(ask())

    assert result.text == "A clock evokes death in China."
    assert result.finish_reason == "stop"
    assert (result.prompt_tokens, result.completion_tokens) == (11, 7)
    assert result.latency_s is not None and result.latency_s >= 0.05


async def test_length_finish_reason_is_kept_with_the_text(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    openai_server.script = lambda body, n: Reply(text="A partial answer", finish_reason="length")

    result = await backend.generate(ask())

    assert (result.text, result.finish_reason) == ("A partial answer", "length")


async def test_the_key_is_sent_as_bearer_header(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    await backend.generate(ask())

    headers = {name.lower(): value for name, value in openai_server.headers[0].items()}
    assert headers["authorization"] == f"Bearer {SECRET}"


async def test_each_image_is_encoded_once(openai_server: OpenAIServer, png_image: PreparedImage) -> None:
    cache = DataUriCache()
    backend = make_backend(openai_server.base_url, uri_cache=cache)
    await asyncio.gather(*(backend.generate(ask(f"question {i}", png_image)) for i in range(5)))
    await backend.aclose()

    assert (cache.misses, cache.hits) == (1, 4)
    uris = {body["messages"][1]["content"][0]["image_url"]["url"] for body in openai_server.requests}
    assert len(uris) == 1


def test_body_size_estimate_counts_images_exactly(png_image: PreparedImage) -> None:
    body = build_chat_body("gpt-4o", ask("日本への贈り物", png_image, max_tokens=10), DataUriCache())

    exact = len(json.dumps(body))
    assert estimate_body_bytes(body) == exact


# --- failures ----------------------------------------------------------------------------------------


async def test_429_is_rate_limit_with_retry_after_seconds(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    error = await fail_with(
        openai_server, backend, Reply(status=429, text="slow down", headers={"Retry-After": "3"})
    )

    assert error.kind == "rate_limit"
    assert error.retryable
    assert error.status_code == 429
    assert error.retry_after == 3.0
    assert "slow down" in str(error)


async def test_429_honours_retry_after_ms(openai_server: OpenAIServer, backend: OpenAICompatBackend) -> None:
    reply = Reply(status=429, headers={"retry-after-ms": "1500", "Retry-After": "9"})
    error = await fail_with(openai_server, backend, reply)

    assert error.retry_after == 1.5


def test_retry_after_parses_http_dates_and_ignores_garbage() -> None:
    in_ten_seconds = formatdate(time() + 10, usegmt=True)
    seconds = parse_retry_after({"Retry-After": in_ten_seconds})

    assert seconds is not None and 5 <= seconds <= 11
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "-4"}) == 0.0


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (500, "server", True),
        (502, "server", True),
        (503, "server", True),
        (408, "timeout", True),
        (409, "server", True),
        (400, "bad_request", False),
        (404, "bad_request", False),
        (422, "bad_request", False),
        (401, "auth", False),
        (403, "auth", False),
        (413, "too_large", False),
    ],
)
async def test_http_status_maps_to_a_kind(
    openai_server: OpenAIServer, backend: OpenAICompatBackend, status: int, kind: str, retryable: bool
) -> None:
    error = await fail_with(openai_server, backend, Reply(status=status, text=f"failure {status}"))

    assert (error.kind, error.retryable, error.status_code) == (kind, retryable, status)
    assert f"failure {status}" in error.message


async def test_raw_5xx_body_is_the_message(openai_server: OpenAIServer, backend: OpenAICompatBackend) -> None:
    error = await fail_with(openai_server, backend, Reply(status=502, raw_body="bad gateway"))

    assert error.kind == "server"
    assert "bad gateway" in error.message


async def test_content_policy_400_is_content_filter(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    body = {
        "error": {
            "message": "Your request was rejected by our safety system.",
            "code": "content_policy_violation",
        }
    }
    error = await fail_with(openai_server, backend, Reply(status=400, raw_body=json.dumps(body)))

    assert error.kind == "content_filter"
    assert not error.retryable


async def test_content_filter_finish_reason_is_an_error_not_an_answer(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    error = await fail_with(openai_server, backend, Reply(text="partial", finish_reason="content_filter"))

    assert error.kind == "content_filter"


async def test_timeout_when_the_server_is_slower_than_the_attempt(openai_server: OpenAIServer) -> None:
    openai_server.script = lambda body, n: Reply(delay_s=2.0)
    backend = make_backend(openai_server.base_url, timeout_s=0.3)
    with pytest.raises(BackendError) as caught:
        await backend.generate(ask())
    await backend.aclose()

    assert caught.value.kind == "timeout"
    assert caught.value.retryable


async def test_dropped_connection_is_connection(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    error = await fail_with(openai_server, backend, Reply(drop_connection=True))

    assert error.kind == "connection"
    assert error.retryable


async def test_refused_connection_on_a_closed_port_is_connection() -> None:
    backend = make_backend(f"http://127.0.0.1:{closed_port()}/v1")
    error = await error_from(backend)

    assert error.kind == "connection"
    assert error.retryable
    assert backend.endpoint in error.message
    assert "ConnectionRefusedError" in error.message


@pytest.mark.parametrize(
    ("raw_body", "kind"),
    [
        ("{not json", "malformed"),
        ("<html>proxy error</html>", "malformed"),
        ('{"unexpected": true}', "malformed"),
        ('{"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}', "empty"),
        (
            '{"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": '
            '[{"index": 0, "message": {"role": "assistant", "content": null}, "finish_reason": "stop"}]}',
            "empty",
        ),
        (
            '{"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": '
            '[{"index": 0, "message": {"role": "assistant", "content": "   "}, "finish_reason": "stop"}]}',
            "empty",
        ),
        (
            '{"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [{"index": 0, '
            '"message": {"role": "assistant", "content": null, "refusal": "I cannot help"}, "finish_reason": "stop"}]}',
            "content_filter",
        ),
    ],
)
async def test_bodies_that_are_not_an_answer(
    openai_server: OpenAIServer, backend: OpenAICompatBackend, raw_body: str, kind: str
) -> None:
    error = await fail_with(openai_server, backend, Reply(raw_body=raw_body))

    assert error.kind == kind


async def test_oversized_request_is_refused_before_sending(openai_server: OpenAIServer) -> None:
    from tests.models.conftest import make_image

    big = make_image("PNG", size=(400, 400))
    backend = make_backend(openai_server.base_url, max_request_bytes=len(big.data))
    with pytest.raises(BackendError) as caught:
        await backend.generate(ask("describe", big))
    await backend.aclose()

    assert caught.value.kind == "too_large"
    assert openai_server.count == 0


async def test_connection_pool_is_bounded_by_max_connections(openai_server: OpenAIServer) -> None:
    openai_server.script = lambda body, n: Reply(delay_s=0.6)
    backend = make_backend(openai_server.base_url, max_connections=2)
    tasks = [asyncio.create_task(backend.generate(ask(f"q{i}"))) for i in range(5)]
    await asyncio.sleep(0.3)
    in_flight_at_server = openai_server.count
    results = await asyncio.gather(*tasks)
    await backend.aclose()

    assert in_flight_at_server == 2
    assert len(results) == 5 and openai_server.count == 5


# --- secrets -----------------------------------------------------------------------------------------


async def test_the_key_never_appears_in_errors_identity_or_repr(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    def echo_the_key(body: dict[str, Any], n: int) -> Reply:
        return Reply(status=401, text=f"Incorrect API key provided: {SECRET}")

    openai_server.script = echo_the_key
    with pytest.raises(BackendError) as caught:
        await backend.generate(ask())

    assert caught.value.kind == "auth"
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value.args)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert SECRET not in json.dumps(backend.identity)
    assert SECRET not in repr(backend)
    assert backend.identity == {"provider": "openai", "model": "gpt-4o-mini"}


def test_credentials_in_the_base_url_are_not_displayed() -> None:
    backend = make_backend("http://user:hunter2@gpu-host:8000/v1")

    assert "hunter2" not in repr(backend)
    assert "gpu-host:8000" in repr(backend)


# --- hostile replies: each one an answer or a classified error, never a crash ------------------------


def answer_body(content: Any = "fine", **fields: Any) -> str:
    """A chat-completion body whose message content is `content` (any JSON) and whose top-level fields
    (`usage`, `choices`, ...) are overridden by `fields`."""
    body = completion_body("", "gpt-4o-mini")
    body["choices"][0]["message"]["content"] = content
    body.update(fields)
    return json.dumps(body)


async def answer_to(server: OpenAIServer, backend: OpenAICompatBackend, reply: Reply) -> GenerationResult:
    server.script = lambda body, n: reply
    return await backend.generate(ask())


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (42, "a number"),
        (True, "a boolean"),
        ({"text": "hi"}, "an object"),
        ([{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}}], "image_url"),
        (["just a string part"], "a string"),
    ],
)
async def test_content_that_is_not_text_is_malformed_and_not_retried(
    openai_server: OpenAIServer, backend: OpenAICompatBackend, content: Any, words: str
) -> None:
    error = await fail_with(openai_server, backend, Reply(raw_body=answer_body(content)))

    assert (error.kind, error.retryable) == ("malformed", False)
    assert words in error.message


async def test_content_as_a_list_of_text_parts_is_joined(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    parts = [{"type": "text", "text": "A clock "}, {"type": "text", "text": "evokes death."}]
    result = await answer_to(openai_server, backend, Reply(raw_body=answer_body(parts)))

    assert result.text == "A clock evokes death."


@pytest.mark.parametrize(
    "raw_body",
    [
        answer_body("gift \ud800 for \udfff you"),  # json.dumps escapes the lone surrogates: \\ud800
        answer_body("gift \ud800 for \udfff you")
        .replace("\\ud800", "\ud800")
        .encode("utf-8", "surrogatepass"),
    ],
    ids=["escaped", "raw-bytes"],
)
async def test_lone_surrogates_become_replacement_characters(
    openai_server: OpenAIServer, backend: OpenAICompatBackend, raw_body: str | bytes
) -> None:
    result = await answer_to(openai_server, backend, Reply(raw_body=raw_body))

    assert result.text == "gift \ufffd for \ufffd you"
    result.text.encode("utf-8")


async def test_a_surrogate_pair_written_as_escapes_stays_one_character(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    result = await answer_to(openai_server, backend, Reply(raw_body=answer_body("smile \U0001f600")))

    assert result.text == "smile \U0001f600"


async def test_lone_surrogates_in_an_error_message_are_replaced(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    error = await fail_with(openai_server, backend, Reply(status=500, text="broken \ud800 here"))

    assert error.message == "broken \ufffd here"


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": "abc", "completion_tokens": "7"},
        {"prompt_tokens": -1, "completion_tokens": -7},
        {"prompt_tokens": 10**30, "completion_tokens": 1e300},
        {"prompt_tokens": True, "completion_tokens": None},
        {"prompt_tokens": [11], "completion_tokens": {"n": 7}},
        "lots",
    ],
)
async def test_unusable_usage_counts_are_unknown_and_the_answer_is_kept(
    openai_server: OpenAIServer, backend: OpenAICompatBackend, usage: Any
) -> None:
    result = await answer_to(openai_server, backend, Reply(raw_body=answer_body("fine", usage=usage)))

    assert result.text == "fine"
    assert (result.prompt_tokens, result.completion_tokens) == (None, None)


async def test_whole_number_usage_written_as_floats_is_kept(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    usage = {"prompt_tokens": 11.0, "completion_tokens": 0}
    result = await answer_to(openai_server, backend, Reply(raw_body=answer_body("fine", usage=usage)))

    assert (result.prompt_tokens, result.completion_tokens) == (11, 0)


@pytest.mark.parametrize(
    ("error", "kind", "retryable"),
    [
        ({"message": "upstream overloaded", "code": 503}, "server", True),
        ({"message": "upstream overloaded", "code": "502"}, "server", True),
        ({"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}, "rate_limit", True),
        (
            {"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"},
            "bad_request",
            False,
        ),
        ({"message": "bad key", "type": "invalid_request_error", "code": "invalid_api_key"}, "auth", False),
        (
            {"message": "Flagged by our safety system", "type": "invalid_request_error"},
            "content_filter",
            False,
        ),
        ({"message": "something odd happened"}, "server", True),
    ],
)
async def test_an_error_object_sent_with_200_is_that_error_with_the_servers_message(
    openai_server: OpenAIServer,
    backend: OpenAICompatBackend,
    error: dict[str, Any],
    kind: str,
    retryable: bool,
) -> None:
    failure = await fail_with(openai_server, backend, Reply(raw_body=json.dumps({"error": error})))

    assert (failure.kind, failure.retryable) == (kind, retryable)
    assert error["message"] in failure.message


async def test_an_error_object_without_a_message_is_shown_whole(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    failure = await fail_with(
        openai_server, backend, Reply(raw_body='{"error": {"code": 17, "detail": "odd"}}')
    )

    assert failure.kind == "server"
    assert '"detail": "odd"' in failure.message


async def test_an_error_object_keeps_the_retry_after_of_its_reply(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    body = json.dumps({"error": {"message": "slow down", "code": 429}})
    failure = await fail_with(openai_server, backend, Reply(raw_body=body, headers={"Retry-After": "7"}))

    assert (failure.kind, failure.retry_after) == ("rate_limit", 7.0)


@pytest.mark.parametrize(
    "raw_body",
    ["[1, 2, 3]", "42", '"a string"', "null", "[" * 100_000 + "]" * 100_000, b'{"choices": "\xff\xfe"}'],
    ids=["list", "number", "string", "null", "deeply-nested", "not-utf8"],
)
async def test_json_that_is_not_a_chat_completion_is_malformed(
    openai_server: OpenAIServer, backend: OpenAICompatBackend, raw_body: str | bytes
) -> None:
    error = await fail_with(openai_server, backend, Reply(raw_body=raw_body))

    assert (error.kind, error.retryable) == ("malformed", False)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_50_mb_reply_is_too_large(openai_server: OpenAIServer, chunked: bool) -> None:
    huge = answer_body("x" * (50 * 1024 * 1024))
    openai_server.script = lambda body, n: Reply(raw_body=huge, chunked=chunked)
    backend = make_backend(openai_server.base_url, max_response_bytes=256 * 1024)
    error = await error_from(backend)

    assert (error.kind, error.retryable) == ("too_large", False)
    assert "262,144 bytes" in error.message
    assert "max_response_bytes" in error.message


async def test_an_error_body_over_the_cap_is_too_large_with_its_status(openai_server: OpenAIServer) -> None:
    openai_server.script = lambda body, n: Reply(status=500, raw_body="e" * 100_000, chunked=True)
    backend = make_backend(openai_server.base_url, max_response_bytes=10_000)
    error = await error_from(backend)

    assert (error.kind, error.status_code) == ("too_large", 500)


async def test_a_reply_under_the_cap_is_an_answer(openai_server: OpenAIServer) -> None:
    openai_server.script = lambda body, n: Reply(text="y" * 5_000, chunked=True)
    backend = make_backend(openai_server.base_url, max_response_bytes=10_000)
    result = await backend.generate(ask())
    await backend.aclose()

    assert result.text == "y" * 5_000


async def test_replies_are_asked_for_uncompressed(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    await backend.generate(ask())

    assert openai_server.headers[0]["Accept-Encoding"] == "identity"


async def test_a_bug_in_our_code_propagates_instead_of_being_stored_as_a_backend_error(
    openai_server: OpenAIServer, backend: OpenAICompatBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(content: bytes) -> object:
        raise TypeError("a bug of ours")

    monkeypatch.setattr(openai_compat, "parse_reply_body", broken)
    with pytest.raises(TypeError, match="a bug of ours"):
        await backend.generate(ask())


async def test_extra_body_fields_are_sent_at_the_top_level(openai_server: OpenAIServer) -> None:
    backend = make_backend(openai_server.base_url, extra_body={"top_k": 20})
    await backend.generate(ask())
    await backend.aclose()

    assert openai_server.requests[0]["top_k"] == 20


# --- endpoints that do not answer --------------------------------------------------------------------


async def test_a_hung_server_times_out_naming_the_endpoint(openai_server: OpenAIServer) -> None:
    openai_server.script = lambda body, n: Reply(hang=True)
    backend = make_backend(openai_server.base_url, timeout_s=0.3)
    error = await error_from(backend)

    assert (error.kind, error.status_code) == ("timeout", None)
    assert openai_server.base_url in error.message


# --- secrets reflected by a server -------------------------------------------------------------------


async def test_a_key_reflected_in_a_successful_answer_is_redacted(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    openai_server.script = reflecting(openai_server, "Authorization")

    result = await backend.generate(ask())

    assert result.text == "you sent Authorization: Bearer ***"
    assert SECRET not in repr(result)


async def test_a_key_reflected_in_an_error_body_is_redacted(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    openai_server.script = reflecting(openai_server, "Authorization", status=500)
    with pytest.raises(BackendError) as caught:
        await backend.generate(ask())

    assert caught.value.message == "you sent Authorization: Bearer ***"


async def test_a_key_in_a_finish_reason_is_redacted(
    openai_server: OpenAIServer, backend: OpenAICompatBackend
) -> None:
    body = json.loads(answer_body("fine"))
    body["choices"][0]["finish_reason"] = f"stop:{SECRET}"
    result = await answer_to(openai_server, backend, Reply(raw_body=json.dumps(body)))

    assert result.finish_reason == "stop:***"


async def test_credentials_in_the_base_url_go_as_basic_auth_and_never_into_texts(
    openai_server: OpenAIServer,
) -> None:
    url = openai_server.base_url.replace("http://", "http://proxy-user:proxy-pass-0123@")
    backend = make_backend(url)
    openai_server.script = reflecting(openai_server, "Authorization")
    result = await backend.generate(ask())
    await backend.aclose()

    sent = openai_server.headers[0]["Authorization"]
    assert sent == "Basic " + base64.b64encode(b"proxy-user:proxy-pass-0123").decode("ascii")
    assert result.text == "you sent Authorization: Basic ***"
    for shown in (backend.base_url, backend.endpoint, repr(backend)):
        assert "proxy-pass-0123" not in str(shown)
        assert "proxy-user" not in str(shown)


async def test_credentials_in_the_base_url_never_reach_a_connection_error() -> None:
    backend = make_backend(f"http://someone:s3cret-pass@127.0.0.1:{closed_port()}/v1?token=abcdef")
    error = await error_from(backend)

    assert error.kind == "connection"
    assert "s3cret-pass" not in str(error)
    assert "someone" not in str(error)
    assert "abcdef" not in str(error)
