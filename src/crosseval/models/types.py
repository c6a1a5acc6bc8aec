"""The one protocol every model backend speaks: requests in, results or classified errors out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from crosseval.data.prepared_image import PreparedImage

Role = Literal["system", "user", "assistant"]
ReasoningEffort = Literal["low", "medium", "high"]


ImageInput = PreparedImage
"""Models take images as prepared by the data layer."""


@dataclass(frozen=True)
class Message:
    """A chat message. Images are placed before the text in the content list."""

    role: Role
    text: str
    images: tuple[ImageInput, ...] = ()


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings. `None` means: leave it to the model's own default (the paper's choice)."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    reasoning_effort: ReasoningEffort | None = None
    response_format: dict[str, Any] | None = None
    """An OpenAI `response_format` (e.g. a JSON schema); backends that cannot honour it ignore it."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "reasoning_effort": self.reasoning_effort,
            "response_format": self.response_format,
        }


@dataclass(frozen=True)
class GenerationRequest:
    messages: tuple[Message, ...]
    params: GenerationParams = field(default_factory=GenerationParams)


@dataclass(frozen=True)
class GenerationResult:
    """A successful answer. `finish_reason` is the backend's own word (`stop`, `length`, ...)."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None


ErrorKind = Literal[
    "rate_limit",  # 429
    "server",  # 5xx
    "timeout",  # attempt timed out
    "connection",  # refused, reset, DNS
    "bad_request",  # 4xx other than 408/409/429
    "auth",  # 401/403
    "content_filter",  # the provider refused on policy grounds
    "empty",  # no choices / no content
    "malformed",  # a body that is not the protocol: the same reply again would be too
    "too_large",  # payload over the provider's limit (checked before sending, or 413)
    "backend",  # anything else the backend raised
]

RETRYABLE_KINDS: frozenset[str] = frozenset({"rate_limit", "server", "timeout", "connection", "empty"})


class BackendError(Exception):
    """A classified failure of one attempt. The engine decides on retries from `kind` and `retry_after`.

    The message must never contain a secret (API key, Authorization header).
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    def __str__(self) -> str:
        code = f" {self.status_code}" if self.status_code is not None else ""
        return f"{self.kind}{code}: {self.message}"


@runtime_checkable
class ModelBackend(Protocol):
    """A model that answers chat requests with images.

    `generate` performs exactly one attempt: it returns a result or raises `BackendError`; it does
    not retry (the engine does). Backends that batch (hf, vllm offline) gather concurrent calls
    internally. `identity` is what goes into cache keys and manifests: provider/model plus any
    setting that changes outputs (adapter hash, dtype), never a key or a URL with credentials.
    """

    @property
    def identity(self) -> dict[str, Any]: ...

    async def generate(self, request: GenerationRequest) -> GenerationResult: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class LoadsOnFirstUse(Protocol):
    """A backend whose model loads on first use (in-process: hf, vllm offline), not when it is built.

    Building it and reading `identity` cost no weights, so a command with nothing to send never loads
    them. `load` loads the model now, once (later calls return at once), and raises `ConfigError` when
    it cannot; the engine calls it when there is something to send, outside any request's timeout, so
    a load failure ends the command before anything is stored instead of failing each request.
    """

    async def load(self) -> None: ...


async def load_backend(backend: ModelBackend) -> None:
    """Loads `backend`'s model now if it loads on first use; other backends have nothing to load."""
    if isinstance(backend, LoadsOnFirstUse):
        await backend.load()
