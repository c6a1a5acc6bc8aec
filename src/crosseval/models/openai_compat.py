"""The OpenAI-compatible chat backend: OpenAI, vLLM, SGLang, Ollama, LM Studio, OpenRouter, Gemini.

One `generate` call is one HTTP attempt through the official `openai.AsyncOpenAI` client with its own
retries switched off (the engine retries). Every reply ends as an answer or as a `BackendError` whose
`kind` tells the engine whether a retry can help, with the server's own message; nothing a server sends
back is ever turned into an answer by mistake, and nothing it sends can crash the run: the body is read
with a size cap, parsed here (not trusted to the client's models), content that is not text is
`malformed`, unusable usage counts are unknown, and every text kept is cleaned (`clean_text`).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any, cast

import openai

from crosseval.models.data_uri import DataUriCache
from crosseval.models.keys import PLACEHOLDER_API_KEY
from crosseval.models.secrets import (
    public_url,
    redact,
    register_secret,
    register_url_credentials,
    url_credentials,
    without_credentials,
)
from crosseval.models.types import (
    BackendError,
    ErrorKind,
    GenerationParams,
    GenerationRequest,
    GenerationResult,
    Message,
)

try:  # openai >= 3 ships on httpx2; older releases on httpx.
    import httpx2 as _httpx
except ImportError:  # pragma: no cover - depends on the installed openai
    import httpx as _httpx  # type: ignore[no-redef]

DEFAULT_MAX_REQUEST_BYTES = 20 * 1024 * 1024
"""Refuse to send a request body larger than this (OpenAI's documented per-request image limit)."""

DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
"""Refuse a reply body larger than this (`too_large`): a long answer is a few tens of kilobytes."""

REPLACEMENT_CHARACTER = "\ufffd"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
"""After JSON decoding, any surrogate left in a string has no partner: it cannot be encoded as UTF-8."""
_MAX_ERROR_CHARS = 500
_MAX_TOKEN_COUNT = 10**9
"""Usage counts above this are not believed (no request holds a billion tokens); they are kept as unknown."""
_REASONING_MODEL = re.compile(r"^(o\d+|gpt-5)([-.:_].*)?$", re.IGNORECASE)
_CONTENT_POLICY_CODES = frozenset({"content_policy_violation", "content_filter", "content_filtered"})
_CONTENT_POLICY_PHRASES = (
    "content policy",
    "content management policy",
    "safety system",
    "prohibited_content",
)
_ERROR_WORD_KINDS: tuple[tuple[str, ErrorKind], ...] = (
    ("rate_limit", "rate_limit"),
    ("timeout", "timeout"),
    ("auth", "auth"),
    ("api_key", "auth"),
    ("permission", "auth"),
    ("invalid_request", "bad_request"),
    ("bad_request", "bad_request"),
    ("context_length", "bad_request"),
    ("not_found", "bad_request"),
)
"""Words in an error object's `code` or `type` (OpenAI's and its imitators') and the kind each means;
an error object that names none of them is a server failure."""


def is_reasoning_model(model: str) -> bool:
    """True for OpenAI reasoning families (o1, o3, o4-mini, gpt-5, ...), which need `max_completion_tokens`.

    Only the last path segment is looked at, so `openai/o3-mini` on OpenRouter counts too.
    """
    return bool(_REASONING_MODEL.match(model.rsplit("/", 1)[-1]))


def to_openai_messages(messages: tuple[Message, ...], uris: DataUriCache) -> list[dict[str, Any]]:
    """Chat-completions messages: images first (as data URIs), then the text, in each message's content."""
    converted: list[dict[str, Any]] = []
    for message in messages:
        if not message.images:
            converted.append({"role": message.role, "content": message.text})
            continue
        content: list[dict[str, Any]] = [
            {"type": "image_url", "image_url": {"url": uris.get(image)}} for image in message.images
        ]
        if message.text:
            content.append({"type": "text", "text": message.text})
        converted.append({"role": message.role, "content": content})
    return converted


def build_chat_body(model: str, request: GenerationRequest, uris: DataUriCache) -> dict[str, Any]:
    """The JSON body of one chat-completions request. Parameters left at `None` are not sent."""
    params: GenerationParams = request.params
    body: dict[str, Any] = {"model": model, "messages": to_openai_messages(request.messages, uris)}
    if params.max_tokens is not None:
        reasoning = params.reasoning_effort is not None or is_reasoning_model(model)
        body["max_completion_tokens" if reasoning else "max_tokens"] = params.max_tokens
    optional = {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "seed": params.seed,
        "reasoning_effort": params.reasoning_effort,
        "response_format": params.response_format,
    }
    body.update({name: value for name, value in optional.items() if value is not None})
    return body


def estimate_body_bytes(body: Mapping[str, Any]) -> int:
    """The size of `body` as JSON, counting each data URI by its length instead of re-serialising it."""
    uri_bytes = 0
    messages: list[dict[str, Any]] = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            kept = []
            for part in content:
                if part.get("type") == "image_url":
                    uri_bytes += len(part["image_url"]["url"])
                    kept.append({"type": "image_url", "image_url": {"url": ""}})
                else:
                    kept.append(part)
            messages.append({**message, "content": kept})
        else:
            messages.append(message)
    return uri_bytes + len(json.dumps({**body, "messages": messages}))


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` (seconds or an HTTP date); None if absent."""
    if not headers:
        return None
    lowered = {key.lower(): value for key, value in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None:
            continue
        try:
            seconds = float(raw) / divisor
        except ValueError:
            if name != "retry-after":
                continue
            parsed = email.utils.parsedate_tz(raw)
            if parsed is None:
                continue
            seconds = email.utils.mktime_tz(parsed) - time.time()
        if math.isfinite(seconds):
            return max(seconds, 0.0)
    return None


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception behind `error` (`ConnectionRefusedError`, `gaierror`, an SSL error, ...)."""
    seen = {id(error)}
    while (cause := error.__cause__ or error.__context__) is not None and id(cause) not in seen:
        seen.add(id(cause))
        error = cause
    return error


def clean_text(text: str) -> str:
    """`text` fit to keep: lone surrogates (which no UTF-8 store can hold) become U+FFFD, secrets `***`."""
    return redact(_LONE_SURROGATE.sub(REPLACEMENT_CHARACTER, text))


def _cleaned(error: BackendError) -> BackendError:
    """`error` with its message cleaned and cut to `_MAX_ERROR_CHARS`: what a server says may be hostile."""
    message = clean_text(error.message)
    if len(message) > _MAX_ERROR_CHARS:
        message = message[:_MAX_ERROR_CHARS] + "..."
    return BackendError(error.kind, message, status_code=error.status_code, retry_after=error.retry_after)


def _kind_for_status(status: int, message: str, code: str) -> ErrorKind:
    if status == 429:
        return "rate_limit"
    if status >= 500 or status == 409:  # 409 (conflict) asks for another attempt
        return "server"
    if status == 408:
        return "timeout"
    if status in (401, 403):
        return "auth"
    if status == 413:
        return "too_large"
    if _is_content_policy(message, code):
        return "content_filter"
    return "bad_request"


def _kind_for_error_object(code: object, error_type: object, message: str) -> ErrorKind:
    """The kind of an `{"error": {...}}` a server sent with HTTP 200, from its code (an HTTP status or a word)."""
    if isinstance(code, int | str) and str(code).isdigit() and 400 <= int(code) < 600:
        return _kind_for_status(int(code), message, "")
    words = " ".join(str(value).lower() for value in (code, error_type) if value is not None)
    if _is_content_policy(message, str(code or "")):
        return "content_filter"
    for fragment, kind in _ERROR_WORD_KINDS:
        if fragment in words:
            return kind
    return "server"


def _status_error_detail(error: openai.APIStatusError) -> tuple[str, str]:
    """(message, code) from an error body: `{"message": ..., "code": ..., "type": ...}` or raw text."""
    body = error.body
    if isinstance(body, Mapping):
        message = body.get("message")
        code = body.get("code") or body.get("type") or ""
        if not isinstance(message, str) or not message:
            message = json.dumps(body, ensure_ascii=False) if body else error.message
        return message, str(code)
    if isinstance(body, str) and body:
        return body, ""
    return error.response.text or error.message, ""


def _is_content_policy(message: str, code: str) -> bool:
    lowered = message.lower()
    return code.lower() in _CONTENT_POLICY_CODES or any(
        phrase in lowered for phrase in _CONTENT_POLICY_PHRASES
    )


CLASSIFIED_ERRORS: tuple[type[Exception], ...] = (openai.OpenAIError, _httpx.HTTPError, TimeoutError)
"""What `classify_error` maps to a `BackendError`. Anything else a request raises is a bug in our code and
propagates with its traceback instead of being stored as if the server had failed."""


def classify_error(error: Exception, *, endpoint: str, timeout_s: float) -> BackendError:
    """Maps an error of the `openai` client, of httpx, or the attempt's timeout to a `BackendError`.

    `endpoint` (without credentials) is named where the server never answered: a refused connection or
    a timeout is about where the request went, not about the request.
    """
    if isinstance(error, (openai.APITimeoutError, TimeoutError)):
        return BackendError("timeout", f"no answer from {endpoint} within {timeout_s:g} s")
    if isinstance(error, (openai.APIConnectionError, _httpx.TransportError)):
        cause = _root_cause(error)
        return BackendError("connection", f"connection to {endpoint} failed: {type(cause).__name__}: {cause}")
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        message, code = _status_error_detail(error)
        kind = _kind_for_status(status, message, code)
        retry_after = (
            parse_retry_after(error.response.headers) if kind in ("rate_limit", "server", "timeout") else None
        )
        return BackendError(kind, message, status_code=status, retry_after=retry_after)
    return BackendError("backend", f"{type(error).__name__}: {error}")


def _json_type(value: object) -> str:
    """What a JSON value is, in words: "a number", "a list", ..."""
    names = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)


def parse_reply_body(content: bytes) -> object:
    """The JSON value of a reply body; `malformed` when it is not JSON (an HTML proxy page, a cut body)."""
    try:
        return json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        start = content[:120].decode("utf-8", "replace")
        raise BackendError(
            "malformed", f"the reply is not JSON ({error}); it starts with {start!r}"
        ) from None


def _answer_text(content: object) -> str:
    """The text of a message's `content`: a string, or a list of text parts joined; anything else is `malformed`."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part.get("text") for part in content if isinstance(part, dict) and part.get("type") == "text"
        ]
        if len(texts) == len(content) and all(isinstance(text, str) for text in texts):
            return "".join(cast(list[str], texts))
        kinds = sorted(
            {str(part.get("type")) if isinstance(part, dict) else _json_type(part) for part in content}
        )
        raise BackendError(
            "malformed", f"the answer's content is a list with parts other than text ({', '.join(kinds)})"
        )
    raise BackendError("malformed", f"the answer's content is {_json_type(content)}, not text")


def _token_count(value: object) -> int | None:
    """A usage count if it is one (a whole number from 0 to `_MAX_TOKEN_COUNT`); None (unknown) otherwise."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= _MAX_TOKEN_COUNT else None


def result_from_body(
    payload: object, *, latency_s: float | None = None, retry_after: float | None = None
) -> GenerationResult:
    """The answer in a chat-completion body, or the `BackendError` that says why there is none.

    A body that holds an `error` object is that error (HTTP 200 or not), with the server's message and a
    kind from its code. Usage counts that are not whole non-negative numbers are kept as unknown (None).
    `retry_after` is what the reply's headers asked for, kept on an error object's error.
    """
    if not isinstance(payload, dict):
        raise BackendError("malformed", f"the reply is {_json_type(payload)}, not a chat completion")
    error = payload.get("error")
    if error:
        details = error if isinstance(error, dict) else {"message": error}
        message = details.get("message")
        if not isinstance(message, str) or not message:
            message = json.dumps(error, ensure_ascii=False)
        kind = _kind_for_error_object(details.get("code"), details.get("type"), message)
        raise BackendError(kind, f"the server replied with an error: {message}", retry_after=retry_after)
    choices = payload.get("choices")
    if not isinstance(choices, list):
        raise BackendError("malformed", "the reply is not a chat completion (it has no list of choices)")
    if not choices:
        raise BackendError("empty", "the reply has no choices")
    choice = choices[0]
    message_body = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message_body, dict):
        raise BackendError("malformed", "the reply's first choice holds no message")
    finish_reason = choice.get("finish_reason")
    finish_reason = finish_reason if isinstance(finish_reason, str) else None
    if finish_reason == "content_filter":
        raise BackendError("content_filter", "the provider stopped the answer (finish_reason=content_filter)")
    text = _answer_text(message_body.get("content"))
    if not text.strip():
        refusal = message_body.get("refusal")
        if isinstance(refusal, str) and refusal.strip():
            raise BackendError("content_filter", f"the model refused: {refusal}")
        raise BackendError("empty", f"the answer has no content (finish_reason={finish_reason})")
    usage = payload.get("usage")
    counts = usage if isinstance(usage, dict) else {}
    return GenerationResult(
        text=text,
        finish_reason=finish_reason,
        prompt_tokens=_token_count(counts.get("prompt_tokens")),
        completion_tokens=_token_count(counts.get("completion_tokens")),
        latency_s=latency_s,
    )


def _too_large(limit: int, status: int, size: str) -> BackendError:
    return BackendError(
        "too_large",
        f"the reply (HTTP {status}) is {size}, over the limit of {limit:,} bytes (max_response_bytes)",
        status_code=None if status == 200 else status,
    )


class _CappedStream(_httpx.AsyncByteStream):
    """A response body that raises `too_large` as soon as more than `limit` bytes have arrived."""

    def __init__(self, stream: _httpx.AsyncByteStream, limit: int, status: int) -> None:
        self._stream = stream
        self._limit = limit
        self._status = status

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in self._stream:
            received += len(chunk)
            if received > self._limit:
                raise _too_large(self._limit, self._status, f"over {received:,} bytes and counting")
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


class _CappedTransport(_httpx.AsyncBaseTransport):
    """The HTTP transport, with every reply body (answers and errors alike) capped at `limit` bytes on the wire.

    A declared `Content-Length` over the limit fails before any of the body is read; a body without one
    fails once the limit is passed, so a hostile or broken server never fills memory or the store.
    """

    def __init__(self, transport: _httpx.AsyncBaseTransport, limit: int) -> None:
        self._transport = transport
        self._limit = limit

    async def handle_async_request(self, request: _httpx.Request) -> _httpx.Response:
        response = await self._transport.handle_async_request(request)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._limit:
            await response.aclose()
            raise _too_large(self._limit, response.status_code, f"{int(declared):,} bytes")
        response.stream = _CappedStream(
            cast(_httpx.AsyncByteStream, response.stream), self._limit, response.status_code
        )
        return response

    async def aclose(self) -> None:
        await self._transport.aclose()


class OpenAICompatBackend:
    """A chat model behind an OpenAI-compatible `/v1/chat/completions` endpoint.

    `identity` holds the provider and the model name only: the endpoint URL and the key never enter
    cache keys or manifests. `max_request_bytes` is checked before sending, `max_response_bytes` on
    every reply as it arrives (both `too_large`). Credentials written into `base_url` (`user:pass@`) are
    taken out of the URL and sent as HTTP Basic auth, which replaces the API key's Bearer header; the key,
    and those credentials, are registered as secrets and redacted from every text this backend returns.
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        api_key: str,
        base_url: str | None,
        timeout_s: float = 120.0,
        max_connections: int = 32,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        extra_body: Mapping[str, Any] | None = None,
        default_headers: Mapping[str, str] | None = None,
        uri_cache: DataUriCache | None = None,
    ) -> None:
        if api_key != PLACEHOLDER_API_KEY:
            register_secret(api_key)
        register_url_credentials(base_url)
        credentials = url_credentials(base_url)
        self.provider = provider
        self.model = model
        self.base_url = without_credentials(base_url) if base_url is not None else None
        self.timeout_s = timeout_s
        self.max_request_bytes = max_request_bytes
        self.max_response_bytes = max_response_bytes
        self._extra_body = dict(extra_body or {})
        self._uris = uri_cache if uri_cache is not None else DataUriCache()
        limits = _httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        http_client = openai.DefaultAsyncHttpxClient(
            transport=_CappedTransport(_httpx.AsyncHTTPTransport(limits=limits), max_response_bytes),
            timeout=_httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            auth=_httpx.BasicAuth(*credentials) if credentials is not None else None,
            # Uncompressed replies: the size cap then bounds what is decoded, not just what travels.
            headers={"Accept-Encoding": "identity"},
        )
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=self.base_url,
            max_retries=0,
            timeout=timeout_s,
            http_client=http_client,
            default_headers=dict(default_headers or {}),
        )
        self.endpoint = public_url(str(self._client.base_url)).rstrip("/")
        """Where requests go, without credentials: what messages about an unreachable server name."""

    @property
    def identity(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model}

    def __repr__(self) -> str:
        return f"OpenAICompatBackend(provider={self.provider!r}, model={self.model!r}, endpoint={self.endpoint!r})"

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        body = build_chat_body(self.model, request, self._uris)
        size = estimate_body_bytes(body)
        if size > self.max_request_bytes:
            raise BackendError(
                "too_large",
                f"the request body is about {size / 1e6:.1f} MB, over the limit of "
                f"{self.max_request_bytes / 1e6:.1f} MB (lower the image size cap)",
            )
        body.update(self._extra_body)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                reply = await self._client.post("/chat/completions", body=body, cast_to=_httpx.Response)
            if len(reply.content) > self.max_response_bytes:  # a compressed body, despite our asking
                raise _too_large(self.max_response_bytes, reply.status_code, f"{len(reply.content):,} bytes")
            result = result_from_body(
                parse_reply_body(reply.content),
                latency_s=time.perf_counter() - started,
                retry_after=parse_retry_after(reply.headers),
            )
        except BackendError as error:
            raise _cleaned(error) from None
        except CLASSIFIED_ERRORS as error:
            raise _cleaned(classify_error(error, endpoint=self.endpoint, timeout_s=self.timeout_s)) from None
        finish_reason = clean_text(result.finish_reason) if result.finish_reason is not None else None
        return replace(result, text=clean_text(result.text), finish_reason=finish_reason)

    async def aclose(self) -> None:
        await self._client.close()
