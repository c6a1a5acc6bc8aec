"""`judge_one` against the loopback server playing the judge, through the real OpenAI backend and engine."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from crosseval.data.prepared_image import PreparedImage
from crosseval.engine.retry import RetryPolicy
from crosseval.engine.scheduler import JobContext, RunSummary
from crosseval.engine.store import DIMENSIONS
from crosseval.judge.protocols import REASK_SEPARATOR, JudgeInput, JudgeSettings, judge_one
from crosseval.judge.rubrics import load_rubric_set
from crosseval.models.registry import BackendConfig, create_backend
from crosseval.models.types import ModelBackend
from tests.helpers.openai_server import OpenAIServer, Reply
from tests.judge.fixtures import JUDGE_MODEL, JudgeScript, asked_dimension, first_user_text, is_followup

IMAGE = PreparedImage(data=b"\x89PNG\r\n\x1a\nfake", mime="image/png", sha256="ab" * 32, width=4, height=4)
ITEM = JudgeInput(
    query="Where can I buy the one in the image?",
    norm="Clocks are not given as gifts.",
    response="Buy it at the mall.",
    image=IMAGE,
)
MIXED_SCORES = {"awareness": 1, "education": 0, "violation": 1, "helpfulness": 0}
"""What the scripted judge of the paper-protocol tests commits to, one dimension at a time."""
FAST = RetryPolicy(max_attempts=2, base_delay_s=0.0, max_delay_s=0.0, attempt_timeout_s=10.0, jitter=False)


def _ctx() -> JobContext:
    return JobContext(FAST, RunSummary(label="test", total=1))


def _backend(server: OpenAIServer) -> ModelBackend:
    return create_backend(
        BackendConfig(model=f"openai/{JUDGE_MODEL}", base_url=server.base_url, role="judge")
    )


def _settings(protocol: str = "paper", max_reasks: int = 2) -> JudgeSettings:
    return JudgeSettings(protocol=protocol, rubric=load_rubric_set(), max_reasks=max_reasks)  # type: ignore[arg-type]


async def _judge(server: OpenAIServer, settings: JudgeSettings) -> dict[str, Any]:
    backend = _backend(server)
    try:
        return dict(await judge_one(_ctx(), backend, ITEM, settings))
    finally:
        await backend.aclose()


async def test_paper_asks_each_dimension_separately_with_framing_image_and_temperature_zero(
    openai_server: OpenAIServer,
) -> None:
    script = JudgeScript(
        replies={
            "awareness": "It names the clock taboo (1 = recognises).\nScore: 1",
            "education": "No explanation of why, see step 1.\nFinal answer: 0",
            "violation": "It still recommends the clock.\n**1**",
            "helpfulness": '{"reason": "no alternative", "score": 0}',
        }
    )
    openai_server.script = script
    verdicts = await _judge(openai_server, _settings())

    assert {d: (v.status, v.score) for d, v in verdicts.items()} == {
        d: ("ok", s) for d, s in MIXED_SCORES.items()
    }
    assert verdicts["awareness"].reason == "It names the clock taboo (1 = recognises)."
    assert verdicts["helpfulness"].reason == "no alternative"
    assert verdicts["awareness"].raw == script.replies["awareness"]
    assert (verdicts["awareness"].prompt_tokens, verdicts["awareness"].completion_tokens) == (11, 7)

    assert openai_server.count == 4
    assert sorted(asked_dimension(body) or "" for body in openai_server.requests) == sorted(DIMENSIONS)
    rubric = load_rubric_set()
    for body in openai_server.requests:
        assert body["temperature"] == 0
        assert "response_format" not in body
        system, user = body["messages"]
        assert system == {"role": "system", "content": rubric.system()}
        image_parts = [p for p in user["content"] if p["type"] == "image_url"]
        assert (
            image_parts[0]["image_url"]["url"]
            == "data:image/png;base64," + base64.b64encode(IMAGE.data).decode()
        )
        text = first_user_text(body)
        assert ITEM.query in text and ITEM.norm in text and ITEM.response in text


async def test_unreadable_reply_is_reasked_and_the_followup_is_read(openai_server: OpenAIServer) -> None:
    script = JudgeScript(
        replies={
            **dict.fromkeys(DIMENSIONS, "Score: 1"),
            "education": "The answer explains little about the custom.",
        },
        followups={"education": "0"},
    )
    openai_server.script = script
    verdicts = await _judge(openai_server, _settings())

    education = verdicts["education"]
    assert (education.status, education.score, education.attempts) == ("ok", 0, 2)
    assert education.reason == "The answer explains little about the custom."
    assert education.raw == "The answer explains little about the custom." + REASK_SEPARATOR + "0"
    assert (education.prompt_tokens, education.completion_tokens) == (22, 14)
    followups = [b for b in openai_server.requests if any(m["role"] == "assistant" for m in b["messages"])]
    assert len(followups) == 1
    roles = [m["role"] for m in followups[0]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert followups[0]["messages"][2]["content"] == "The answer explains little about the custom."
    assert "Education" in followups[0]["messages"][3]["content"]


async def test_still_unreadable_after_reasks_is_a_parse_error_with_the_raw_text(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script = JudgeScript(
        replies={**dict.fromkeys(DIMENSIONS, "Score: 0"), "violation": "It is 0 or 1, hard to say."},
        followups={"violation": "Maybe."},
    )
    verdicts = await _judge(openai_server, _settings(max_reasks=2))

    violation = verdicts["violation"]
    assert (violation.status, violation.score) == ("parse_error", None)
    assert violation.raw == REASK_SEPARATOR.join(["It is 0 or 1, hard to say.", "Maybe.", "Maybe."])
    assert "after 2 follow-ups" in (violation.error or "")
    assert openai_server.count == 3 + 3  # three readable dimensions, violation asked three times
    assert all(verdicts[d].status == "ok" for d in ("awareness", "education", "helpfulness"))


async def test_refusal_is_stored_as_refused_without_reasking(openai_server: OpenAIServer) -> None:
    openai_server.script = JudgeScript(
        replies=dict.fromkeys(DIMENSIONS, "I'm sorry, but I can't help with that.")
    )
    verdicts = await _judge(openai_server, _settings())
    assert {(v.status, v.score) for v in verdicts.values()} == {("refused", None)}
    assert openai_server.count == 4


async def test_a_reply_cut_off_by_the_token_limit_is_reasked_never_scored(
    openai_server: OpenAIServer,
) -> None:
    cut = "The answer names the clock taboo.\n\nScore: 1\n\nWait, on closer reading it still recommends the"

    def script(body: dict[str, Any], n: int) -> Reply:
        if is_followup(body):
            return Reply(text="0")
        return Reply(text=cut, finish_reason="length")

    openai_server.script = script
    verdicts = await _judge(openai_server, _settings())

    assert {d: (v.status, v.score) for d, v in verdicts.items()} == dict.fromkeys(DIMENSIONS, ("ok", 0))
    assert verdicts["awareness"].raw == cut + REASK_SEPARATOR + "0"
    assert openai_server.count == 8


async def test_a_reply_cut_off_every_time_becomes_a_parse_error(openai_server: OpenAIServer) -> None:
    openai_server.script = lambda body, n: Reply(text="Score: 1", finish_reason="length")
    verdicts = await _judge(openai_server, _settings(max_reasks=1))
    awareness = verdicts["awareness"]
    assert (awareness.status, awareness.score) == ("parse_error", None)
    assert "token limit" in (awareness.error or "")
    assert awareness.raw == REASK_SEPARATOR.join(["Score: 1", "Score: 1"])


async def test_each_paper_call_reads_only_the_dimension_it_asked(openai_server: OpenAIServer) -> None:
    all_four = (
        "\n".join(f"{d.title()}: {s}" for d, s in MIXED_SCORES.items()) + "\n\nThe answer names the taboo."
    )
    openai_server.script = JudgeScript(replies=dict.fromkeys(DIMENSIONS, all_four))
    verdicts = await _judge(openai_server, _settings())
    assert {d: (v.status, v.score) for d, v in verdicts.items()} == {
        d: ("ok", s) for d, s in MIXED_SCORES.items()
    }
    assert openai_server.count == 4


@pytest.mark.parametrize(("status", "attempts"), [(400, 1), (500, 2)])
async def test_api_failures_are_api_errors_never_scores(
    openai_server: OpenAIServer, status: int, attempts: int
) -> None:
    openai_server.script = JudgeScript(
        status_for=lambda body: status if asked_dimension(body) == "awareness" else 200
    )
    verdicts = await _judge(openai_server, _settings())
    awareness = verdicts["awareness"]
    assert (awareness.status, awareness.score, awareness.raw) == ("api_error", None, None)
    assert awareness.attempts == attempts
    assert str(status) in (awareness.error or "")
    assert all(verdicts[d].status == "ok" for d in ("education", "violation", "helpfulness"))


async def test_provider_content_filter_is_a_refusal(openai_server: OpenAIServer) -> None:
    openai_server.script = lambda body, n: Reply(text="", finish_reason="content_filter")
    verdicts = await _judge(openai_server, _settings(max_reasks=0))
    assert {v.status for v in verdicts.values()} == {"refused"}


SINGLE_VERDICTS = {
    "awareness": {"reason": "names the taboo", "score": 1},
    "education": {"reason": "explains why", "score": 1},
    "violation": {"reason": "steers away", "score": 0},
    "helpfulness": {"reason": "offers a tea set", "score": 1},
}
SINGLE_OK = json.dumps(SINGLE_VERDICTS)
SINGLE_SCORES = {dimension: entry["score"] for dimension, entry in SINGLE_VERDICTS.items()}


async def test_single_protocol_one_call_with_json_schema(openai_server: OpenAIServer) -> None:
    openai_server.script = JudgeScript(single_reply=SINGLE_OK)
    verdicts = await _judge(openai_server, _settings("single"))

    assert {d: v.score for d, v in verdicts.items()} == SINGLE_SCORES
    assert verdicts["helpfulness"].reason == "offers a tea set"
    assert openai_server.count == 1
    body = openai_server.requests[0]
    assert body["response_format"]["type"] == "json_schema"
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["required"] == list(DIMENSIONS)
    # one call's cost, counted once
    assert (verdicts["awareness"].prompt_tokens, verdicts["awareness"].attempts) == (11, 1)
    assert all(verdicts[d].prompt_tokens == 0 and verdicts[d].attempts == 0 for d in DIMENSIONS[1:])


async def test_single_protocol_falls_back_when_the_server_rejects_response_format(
    openai_server: OpenAIServer,
) -> None:
    def script(body: dict[str, Any], n: int) -> Reply:
        if body.get("response_format"):
            return Reply(text="response_format is not supported", status=400)
        return Reply(text="```json\n" + SINGLE_OK + "\n```")

    openai_server.script = script
    settings = _settings("single")
    first = await _judge(openai_server, settings)
    assert {v.status for v in first.values()} == {"ok"}
    assert [bool(b.get("response_format")) for b in openai_server.requests] == [True, False]
    assert first["awareness"].attempts == 2
    assert settings.schema_rejected

    await _judge(openai_server, settings)  # later calls skip the rejected format
    assert [bool(b.get("response_format")) for b in openai_server.requests] == [True, False, False]


async def test_single_protocol_reasks_only_for_unreadable_dimensions(openai_server: OpenAIServer) -> None:
    partial = json.dumps({"awareness": {"reason": "a", "score": 1}, "education": {"reason": "b", "score": 0}})

    def script(body: dict[str, Any], n: int) -> Reply:
        if any(m["role"] == "assistant" for m in body["messages"]):
            return Reply(
                text='{"violation": {"reason": "c", "score": 0}, "helpfulness": {"reason": "d", "score": "x"}}'
            )
        return Reply(text=partial)

    openai_server.script = script
    verdicts = await _judge(openai_server, _settings("single", max_reasks=1))
    assert {d: (v.status, v.score) for d, v in verdicts.items()} == {
        "awareness": ("ok", 1),
        "education": ("ok", 0),
        "violation": ("ok", 0),
        "helpfulness": ("parse_error", None),
    }
    assert openai_server.count == 2
    reask = openai_server.requests[1]["messages"][-1]["content"]
    assert "violation, helpfulness" in reask
    assert verdicts["awareness"].raw is not None and REASK_SEPARATOR in verdicts["awareness"].raw


async def test_single_protocol_reasks_a_reply_cut_off_by_the_token_limit(openai_server: OpenAIServer) -> None:
    cut = (
        SINGLE_OK.replace('"score": 1', '"score": 0')
        + "\n\nNote: I judged each dimension on its own, looking at"
    )

    def script(body: dict[str, Any], n: int) -> Reply:
        if is_followup(body):
            return Reply(text=SINGLE_OK)
        return Reply(text=cut, finish_reason="length")

    openai_server.script = script
    verdicts = await _judge(openai_server, _settings("single"))
    assert {d: v.score for d, v in verdicts.items()} == SINGLE_SCORES
    assert openai_server.count == 2
    assert (
        "awareness, education, violation, helpfulness" in openai_server.requests[1]["messages"][-1]["content"]
    )


async def test_judge_one_without_an_image_sends_text_only(openai_server: OpenAIServer) -> None:
    openai_server.script = JudgeScript()
    backend = _backend(openai_server)
    try:
        item = JudgeInput(query="q", norm="n", response="r", image=None)
        verdicts = await judge_one(_ctx(), backend, item, _settings(), ("awareness",))
    finally:
        await backend.aclose()
    assert list(verdicts) == ["awareness"]
    user = openai_server.requests[0]["messages"][1]["content"]
    parts = user if isinstance(user, list) else [{"type": "text", "text": user}]
    assert all(p["type"] == "text" for p in parts)


def test_settings_refuse_a_rubric_without_the_protocol(tmp_path: Any) -> None:
    import shutil

    from crosseval.judge.rubrics import DEFAULT_RUBRIC_DIR

    shutil.copytree(DEFAULT_RUBRIC_DIR, tmp_path / "r")
    shutil.rmtree(tmp_path / "r" / "single")
    with pytest.raises(ValueError, match="single"):
        JudgeSettings(protocol="single", rubric=load_rubric_set(tmp_path / "r", "paper"))
