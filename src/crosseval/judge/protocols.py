"""The CROSS-Eval judging protocols: how one response is put to the judge and what comes back.

`paper` (default) follows the paper: one call per dimension at temperature 0, each carrying the
evaluator framing (system message), the image, the query the model saw, the reference norm, the
response and that dimension's criteria; the judge reasons, then commits to 0 or 1.
`single` asks for all four verdicts in one call as JSON (a JSON-schema `response_format` when the
server accepts it): a quarter of the calls, the image sent once.

An unreadable reply is re-asked (a follow-up turn) up to `max_reasks` times, then stored as a parse
error with its raw text; a reply cut off by the token limit (`finish_reason == "length"`) is
unreadable, so it is re-asked too, never scored; an API failure is stored as an API error. Nothing here turns a failure into
a score. This module is also the library entry point for judging outside a run (`judge_one`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from crosseval.data.prepared_image import PreparedImage
from crosseval.engine.retry import RequestFailed
from crosseval.engine.scheduler import JobContext
from crosseval.judge.parsing import ParsedVerdict, parse_verdict, parse_verdicts_json
from crosseval.judge.rubrics import Protocol, RubricSet
from crosseval.models.types import (
    GenerationParams,
    GenerationRequest,
    GenerationResult,
    Message,
    ModelBackend,
)
from crosseval.vocabulary import DIMENSIONS, Dimension, VerdictStatus

JUDGE_PARAMS = GenerationParams(temperature=0.0)
"""The paper's judge setting: deterministic decoding, everything else at the judge's defaults."""

REASK_SEPARATOR = "\n\n--- re-ask ---\n\n"
"""Joins the judge's replies in a verdict's `raw` when a follow-up was needed."""


@dataclass(frozen=True)
class JudgeInput:
    """What the judge sees about one response: the query the model saw, the reference norm, the image."""

    query: str
    norm: str
    response: str
    image: PreparedImage | None


@dataclass
class JudgeSettings:
    """How to judge: protocol, rubric set, follow-up budget and sampling parameters."""

    protocol: Protocol
    rubric: RubricSet
    max_reasks: int = 2
    params: GenerationParams = JUDGE_PARAMS
    schema_rejected: bool = field(default=False, repr=False)
    """Set once a server has refused the `single` protocol's JSON-schema `response_format`, so later
    calls through these settings go without it instead of failing first."""

    def __post_init__(self) -> None:
        if self.max_reasks < 0:
            raise ValueError(f"max_reasks must not be negative, got {self.max_reasks}")
        if not self.rubric.supports(self.protocol):
            raise ValueError(
                f"rubric set {self.rubric.directory} has no templates for the {self.protocol!r} protocol"
            )


@dataclass(frozen=True)
class Verdict:
    """One dimension's verdict. `score` is 0 or 1 exactly when `status == "ok"`.

    `prompt_tokens`/`completion_tokens` count the calls that produced it, follow-ups included. In the
    `single` protocol one call yields four verdicts; its tokens and attempts are carried by the first
    requested dimension's verdict only (the others hold 0), so sums over verdicts count each call once.
    """

    status: VerdictStatus
    score: int | None
    reason: str | None
    raw: str | None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0

    def __post_init__(self) -> None:
        if (self.status == "ok") != (self.score is not None):
            raise ValueError(f"a verdict has a score exactly when its status is ok (status {self.status!r})")

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class _Exchange:
    """The running tally of one judging conversation."""

    replies: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0

    def add(self, result: GenerationResult, attempts: int) -> None:
        self.replies.append(result.text)
        self.prompt_tokens += result.prompt_tokens or 0
        self.completion_tokens += result.completion_tokens or 0
        self.attempts += attempts

    @property
    def raw(self) -> str | None:
        return REASK_SEPARATOR.join(self.replies) if self.replies else None

    def verdict(
        self, status: VerdictStatus, score: int | None, reason: str | None, error: str | None
    ) -> Verdict:
        return Verdict(
            status=status,
            score=score,
            reason=reason,
            raw=self.raw,
            error=error,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            attempts=self.attempts,
        )

    def failed(self, failure: RequestFailed) -> Verdict:
        self.attempts += failure.attempts
        status: VerdictStatus = "refused" if failure.error.kind == "content_filter" else "api_error"
        return self.verdict(status, None, None, str(failure.error))


def _first_messages(system: str, user_text: str, image: PreparedImage | None) -> list[Message]:
    images = (image,) if image is not None else ()
    return [Message("system", system), Message("user", user_text, images)]


async def judge_dimension(
    ctx: JobContext, backend: ModelBackend, item: JudgeInput, dimension: Dimension, settings: JudgeSettings
) -> Verdict:
    """The `paper` protocol for one dimension: ask, read the committed 0/1, re-ask while unreadable."""
    rubric = settings.rubric
    prompt = rubric.paper_prompt(
        query=item.query, norm=item.norm, response=item.response, dimension=dimension
    )
    messages = _first_messages(rubric.system(), prompt, item.image)
    exchange = _Exchange()
    first_reason: str | None = None
    parsed: ParsedVerdict | None = None
    for turn in range(settings.max_reasks + 1):
        if turn > 0:
            messages += [
                Message("assistant", exchange.replies[-1]),
                Message("user", rubric.paper_reask(dimension)),
            ]
        try:
            result, attempts = await ctx.call(backend, GenerationRequest(tuple(messages), settings.params))
        except RequestFailed as failure:
            return exchange.failed(failure)
        exchange.add(result, attempts)
        parsed = parse_verdict(result.text, dimension=dimension, finish_reason=result.finish_reason)
        if turn == 0:
            first_reason = result.text.strip() or None
        if parsed.outcome == "score":
            reason = parsed.reason if turn == 0 else first_reason
            return exchange.verdict("ok", parsed.score, reason, None)
        if parsed.outcome == "refused":
            return exchange.verdict("refused", None, None, parsed.problem)
    assert parsed is not None
    return exchange.verdict(
        "parse_error", None, first_reason, _unreadable_message(parsed, settings.max_reasks)
    )


def _unreadable_message(parsed: ParsedVerdict, reasks: int) -> str:
    follow = f" after {reasks} follow-up{'s' if reasks != 1 else ''}" if reasks else ""
    return f"unreadable verdict{follow}: {parsed.problem}"


SINGLE_RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "cross_eval_verdicts",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                dimension: {
                    "type": "object",
                    "properties": {
                        "reason": {"type": "string"},
                        "score": {"type": "integer", "enum": [0, 1]},
                    },
                    "required": ["reason", "score"],
                    "additionalProperties": False,
                }
                for dimension in DIMENSIONS
            },
            "required": list(DIMENSIONS),
            "additionalProperties": False,
        },
    },
}


async def judge_all_single(
    ctx: JobContext, backend: ModelBackend, item: JudgeInput, settings: JudgeSettings
) -> dict[Dimension, Verdict]:
    """The `single` protocol: one JSON reply with four verdicts; re-ask only for the unreadable ones.

    Every verdict returned carries the whole conversation's tokens and attempts; `judge_one` keeps
    them on one verdict only.
    """
    rubric = settings.rubric
    prompt = rubric.single_prompt(query=item.query, norm=item.norm, response=item.response)
    messages = _first_messages(rubric.system(), prompt, item.image)
    exchange = _Exchange()
    settled: dict[Dimension, ParsedVerdict] = {}
    latest: dict[Dimension, ParsedVerdict] = {}
    for turn in range(settings.max_reasks + 1):
        pending = [d for d in DIMENSIONS if d not in settled]
        if turn > 0:
            messages += [
                Message("assistant", exchange.replies[-1]),
                Message("user", rubric.single_reask(pending)),
            ]
        try:
            result, attempts = await _call_with_schema(ctx, backend, tuple(messages), settings, exchange)
        except RequestFailed as failure:
            failed = exchange.failed(failure)
            return {d: _settled_verdict(settled[d], failed) if d in settled else failed for d in DIMENSIONS}
        exchange.add(result, attempts)
        parsed = parse_verdicts_json(result.text, finish_reason=result.finish_reason)
        for dimension in pending:
            latest[dimension] = parsed[dimension]
            if parsed[dimension].outcome != "unreadable":
                settled[dimension] = parsed[dimension]
        if len(settled) == len(DIMENSIONS):
            break
    final = exchange.verdict("parse_error", None, None, None)
    verdicts: dict[Dimension, Verdict] = {}
    for dimension in DIMENSIONS:
        if dimension in settled:
            verdicts[dimension] = _settled_verdict(settled[dimension], final)
        else:
            message = _unreadable_message(latest[dimension], settings.max_reasks)
            verdicts[dimension] = _with(final, reason=latest[dimension].reason, error=message)
    return verdicts


async def _call_with_schema(
    ctx: JobContext,
    backend: ModelBackend,
    messages: tuple[Message, ...],
    settings: JudgeSettings,
    exchange: _Exchange,
) -> tuple[GenerationResult, int]:
    """Send with the JSON-schema `response_format`; a server that rejects it (400) gets the request without."""
    if settings.schema_rejected or settings.params.response_format is not None:
        return await ctx.call(backend, GenerationRequest(messages, settings.params))
    params = _replace_params(settings.params, response_format=SINGLE_RESPONSE_FORMAT)
    try:
        return await ctx.call(backend, GenerationRequest(messages, params))
    except RequestFailed as failure:
        if failure.error.kind != "bad_request":
            raise
        settings.schema_rejected = True
        exchange.attempts += failure.attempts
    return await ctx.call(backend, GenerationRequest(messages, settings.params))


def _replace_params(params: GenerationParams, **changes: Any) -> GenerationParams:
    return GenerationParams(**{**params.as_dict(), **changes})


def _with(verdict: Verdict, **changes: Any) -> Verdict:
    fields = {
        "status": verdict.status,
        "score": verdict.score,
        "reason": verdict.reason,
        "raw": verdict.raw,
        "error": verdict.error,
        "prompt_tokens": verdict.prompt_tokens,
        "completion_tokens": verdict.completion_tokens,
        "attempts": verdict.attempts,
    }
    return Verdict(**{**fields, **changes})


def _settled_verdict(parsed: ParsedVerdict, carrier: Verdict) -> Verdict:
    if parsed.outcome == "score":
        return _with(carrier, status="ok", score=parsed.score, reason=parsed.reason, error=None)
    return _with(carrier, status="refused", score=None, reason=None, error=parsed.problem)


def _spread_call_cost(
    verdicts: dict[Dimension, Verdict], dimensions: tuple[Dimension, ...]
) -> dict[Dimension, Verdict]:
    """The requested verdicts, with the shared call's tokens and attempts on the first one only (see `Verdict`)."""
    first, *rest = dimensions
    out = {first: verdicts[first]}
    for dimension in rest:
        out[dimension] = _with(verdicts[dimension], prompt_tokens=0, completion_tokens=0, attempts=0)
    return out


async def judge_one(
    ctx: JobContext,
    backend: ModelBackend,
    item: JudgeInput,
    settings: JudgeSettings,
    dimensions: tuple[Dimension, ...] = DIMENSIONS,
) -> dict[Dimension, Verdict]:
    """Judge one response on `dimensions` (all four by default) with the settings' protocol.

    `paper` sends the dimensions' calls concurrently; `single` always asks for all four in one call
    and returns the requested ones. Failures come back as verdicts with a status, never as exceptions.
    """
    if settings.protocol == "single":
        if not dimensions:
            return {}
        return _spread_call_cost(await judge_all_single(ctx, backend, item, settings), dimensions)
    results = await asyncio.gather(*(judge_dimension(ctx, backend, item, d, settings) for d in dimensions))
    return dict(zip(dimensions, results, strict=True))
