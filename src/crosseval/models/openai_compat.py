"""The OpenAI-compatible chat backend: OpenAI, vLLM, SGLang, Ollama, LM Studio, OpenRouter, Gemini.

One `generate` call is one HTTP attempt through the official `openai.AsyncOpenAI` client with its own
retries switched off (the engine retries). Every failure becomes a `BackendError` whose `kind` tells the
engine whether a retry can help; nothing a server sends back is ever turned into an answer by mistake.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import openai

from crosseval.models.data_uri import DataUriCache
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

_MAX_ERROR_CHARS = 500
_REASONING_MODEL = re.compile(r"^(o\d+|gpt-5)([-.:_].*)?$", re.IGNORECASE)
_CONTENT_POLICY_CODES = frozenset({"content_policy_violation", "content_filter", "content_filtered"})
_CONTENT_POLICY_PHRASES = (
    "content policy",
    "content management policy",
    "safety system",
    "prohibited_content",
)


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


def _without_credentials(url: str | None) -> str | None:
    """`url` without a `user:password@` part, for display."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def _redact(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    if len(text) > _MAX_ERROR_CHARS:
        text = text[:_MAX_ERROR_CHARS] + "..."
    return text


def _status_error_detail(error: openai.APIStatusError) -> tuple[str, str]:
    """(message, code) from an error body: `{"message": ..., "code": ..., "type": ...}` or raw text."""
    body = error.body
    if isinstance(body, Mapping):
        message = str(body.get("message") or error.message)
        code = str(body.get("code") or body.get("type") or "")
        return message, code
    if isinstance(body, str) and body:
        return body, ""
    return error.response.text or error.message, ""


def _is_content_policy(message: str, code: str) -> bool:
    lowered = message.lower()
    return code.lower() in _CONTENT_POLICY_CODES or any(
        phrase in lowered for phrase in _CONTENT_POLICY_PHRASES
    )


def classify_error(error: BaseException, *, api_key: str | None = None) -> BackendError:
    """Maps an exception raised by the `openai` client (or the attempt's timeout) to a `BackendError`."""
    if isinstance(error, BackendError):
        return error
    if isinstance(error, (openai.APITimeoutError, TimeoutError)):
        return BackendError("timeout", "the request timed out")
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error.__context__
        detail = f"{error.message} ({type(cause).__name__}: {cause})" if cause else error.message
        return BackendError("connection", _redact(detail, api_key))
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        message, code = _status_error_detail(error)
        message = _redact(message, api_key)
        headers = dict(error.response.headers)
        if status == 429:
            return BackendError(
                "rate_limit", message, status_code=status, retry_after=parse_retry_after(headers)
            )
        if status >= 500:
            return BackendError("server", message, status_code=status, retry_after=parse_retry_after(headers))
        if status in (408, 409):
            # Request timeout and conflict: the server asks for another attempt.
            kind: ErrorKind = "timeout" if status == 408 else "server"
            return BackendError(kind, message, status_code=status, retry_after=parse_retry_after(headers))
        if status in (401, 403):
            return BackendError("auth", message, status_code=status)
        if status == 413:
            return BackendError("too_large", message, status_code=status)
        if _is_content_policy(message, code):
            return BackendError("content_filter", message, status_code=status)
        return BackendError("bad_request", message, status_code=status)
    if isinstance(error, (openai.APIResponseValidationError, json.JSONDecodeError, UnicodeDecodeError)):
        return BackendError("malformed", _redact(f"the response body is not valid JSON: {error}", api_key))
    return BackendError("backend", _redact(f"{type(error).__name__}: {error}", api_key))


def result_from_completion(completion: object, latency_s: float) -> GenerationResult:
    """The answer inside a chat completion, or the `BackendError` that says why there is none."""
    try:
        choices = completion.choices  # type: ignore[attr-defined]
    except AttributeError:
        choices = None
    if choices is None or not isinstance(choices, list):
        raise BackendError(
            "malformed", f"the response is not a chat completion ({type(completion).__name__})"
        )
    if not choices:
        raise BackendError("empty", "the response has no choices")
    try:
        choice = choices[0]
        finish_reason = choice.finish_reason
        message = choice.message
        text = message.content
        refusal = getattr(message, "refusal", None)
    except AttributeError as error:
        raise BackendError("malformed", f"the choice lacks a field: {error}") from None
    if finish_reason == "content_filter":
        raise BackendError("content_filter", "the provider stopped the answer (finish_reason=content_filter)")
    if not text or not text.strip():
        if refusal:
            raise BackendError("content_filter", _redact(f"the model refused: {refusal}", None))
        raise BackendError("empty", f"the answer has no content (finish_reason={finish_reason})")
    usage = getattr(completion, "usage", None)
    return GenerationResult(
        text=text,
        finish_reason=finish_reason,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        latency_s=latency_s,
    )


class OpenAICompatBackend:
    """A chat model behind an OpenAI-compatible `/v1/chat/completions` endpoint.

    `identity` holds the provider and the model name only: the endpoint URL and the key never enter
    cache keys or manifests. `max_request_bytes` is checked before sending (`too_large`).
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
        extra_body: Mapping[str, Any] | None = None,
        default_headers: Mapping[str, str] | None = None,
        uri_cache: DataUriCache | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.max_request_bytes = max_request_bytes
        self._api_key = api_key
        self._extra_body = dict(extra_body or {})
        self._uris = uri_cache if uri_cache is not None else DataUriCache()
        http_client = openai.DefaultAsyncHttpxClient(
            limits=_httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            timeout=_httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        )
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout_s,
            http_client=http_client,
            default_headers=dict(default_headers or {}),
        )

    @property
    def identity(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model}

    def __repr__(self) -> str:
        url = _without_credentials(self.base_url)
        return f"OpenAICompatBackend(provider={self.provider!r}, model={self.model!r}, base_url={url!r})"

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        body = build_chat_body(self.model, request, self._uris)
        size = estimate_body_bytes(body)
        if size > self.max_request_bytes:
            raise BackendError(
                "too_large",
                f"the request body is about {size / 1e6:.1f} MB, over the limit of "
                f"{self.max_request_bytes / 1e6:.1f} MB (lower the image size cap)",
            )
        if self._extra_body:
            body["extra_body"] = self._extra_body
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                completion = await cast(Any, self._client.chat.completions).create(**body)
        except Exception as error:
            raise classify_error(error, api_key=self._api_key) from None
        return result_from_completion(completion, time.perf_counter() - started)

    async def aclose(self) -> None:
        await self._client.close()
