"""The OpenAI-compatible backend against a real loopback HTTP server, through the real `openai` client."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path
from time import time
from typing import Any

import pytest

from crosseval.data.prepared_image import PreparedImage
from crosseval.models.data_uri import DataUriCache
from crosseval.models.openai_compat import (
    OpenAICompatBackend,
    build_chat_body,
    estimate_body_bytes,
    is_reasoning_model,
    parse_retry_after,
)
from crosseval.models.types import BackendError, GenerationParams, GenerationRequest, Message
from tests.helpers.openai_server import OpenAIServer, Reply

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
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = make_backend(f"http://127.0.0.1:{port}/v1")
    with pytest.raises(BackendError) as caught:
        await backend.generate(ask())
    await backend.aclose()

    assert caught.value.kind == "connection"
    assert caught.value.retryable


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
