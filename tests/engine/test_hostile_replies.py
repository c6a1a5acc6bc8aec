"""Every reply a server can send ends stored as an answer or as an error with its reason: a generation run
against the real loopback server, one hostile reply per sample."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crosseval.data.images import clear_image_memo
from crosseval.data.loaders import load_benchmark
from crosseval.engine.export import export_generations
from crosseval.engine.generation import GenerationConfig, run_generation
from crosseval.engine.manifest import read_manifest
from crosseval.engine.retry import RetryPolicy
from crosseval.models.backend_config import BackendConfig
from crosseval.models.openai_compat import OpenAICompatBackend
from tests.engine.sample_images import write_sample_images
from tests.helpers.openai_server import OpenAIServer, Reply, completion_body, last_user_text, reflecting

SECRET = "sk-hostile-SECRET-0123456789"
POLICY = RetryPolicy(max_attempts=2, base_delay_s=0.001, max_delay_s=0.002, attempt_timeout_s=5.0)


def answer(content: Any = "fine", **fields: Any) -> Reply:
    body = completion_body("", "test-model")
    body["choices"][0]["message"]["content"] = content
    body.update(fields)
    return Reply(raw_body=json.dumps(body))


def hostile_replies(server: OpenAIServer) -> list[tuple[str, Any]]:
    """(what the server sends, what must be stored: the answer text, or the error kind after `error:`)."""
    reflect_ok = reflecting(server, "Authorization")
    reflect_500 = reflecting(server, "Authorization", status=500)
    return [
        (answer(7), "error:malformed"),
        (answer([{"type": "text", "text": "joined "}, {"type": "text", "text": "parts"}]), "joined parts"),
        (answer([{"type": "image_url", "image_url": {"url": "x"}}]), "error:malformed"),
        (answer(None), "error:empty"),
        (answer("lone \ud800 surrogate"), "lone \ufffd surrogate"),
        (answer("usage abc", usage={"prompt_tokens": "abc", "completion_tokens": "abc"}), "usage abc"),
        (answer("usage -1", usage={"prompt_tokens": -1, "completion_tokens": -1}), "usage -1"),
        (answer("usage huge", usage={"prompt_tokens": 10**30, "completion_tokens": 10**30}), "usage huge"),
        (Reply(raw_body='{"error": {"message": "prompt too long", "code": "context_length_exceeded"}}'), "error:bad_request"),
        (Reply(raw_body="z" * 200_000, chunked=True), "error:too_large"),
        (reflect_ok, "you sent Authorization: Bearer ***"),
        (reflect_500, "error:server"),
    ]  # fmt: skip


async def test_each_hostile_reply_is_stored_as_an_answer_or_an_error_with_its_reason(
    openai_server: OpenAIServer, cross_sample: Path, tmp_path: Path
) -> None:
    benchmark = load_benchmark([cross_sample / "casa" / "english.json"], images_root=tmp_path / "images")
    distinct = list({sample.prompt_text: sample for sample in benchmark.samples}.values())
    cases = hostile_replies(openai_server)
    samples = distinct[: len(cases)]
    write_sample_images(samples, tmp_path / "images")
    clear_image_memo()
    by_prompt = {sample.prompt_text: case for sample, case in zip(samples, cases, strict=True)}

    def script(body: dict[str, Any], n: int) -> Reply:
        reply = by_prompt[last_user_text(body)][0]
        return reply(body, n) if callable(reply) else reply

    openai_server.script = script
    backend = OpenAICompatBackend(
        provider="openai",
        model="test-model",
        api_key=SECRET,
        base_url=openai_server.base_url,
        max_response_bytes=100_000,
    )
    run_dir = tmp_path / "run"
    config = GenerationConfig(
        backend=BackendConfig("openai/test-model", max_connections=4),
        rounds=1,
        retry=POLICY,
        show_progress=False,
    )
    summary = await run_generation(samples, run_dir, config, images_root=tmp_path / "images", backend=backend)
    await backend.aclose()
    export_generations(run_dir, "jsonl", tmp_path / "rows.jsonl")
    rows = {
        row["sample_id"]: row for row in map(json.loads, (tmp_path / "rows.jsonl").read_text().splitlines())
    }

    assert (summary.crashed, summary.missing) == (0, 0)
    for sample in samples:
        row, expected = rows[sample.id], by_prompt[sample.prompt_text][1]
        if expected.startswith("error:"):
            assert (row["status"], row["error_kind"]) == ("error", expected.removeprefix("error:")), row
            assert row["error"]
        else:
            assert (row["status"], row["response"]) == ("ok", expected), row
            assert row["prompt_tokens"] in (None, 11)
    assert rows[samples[0].id]["attempts"] == 1  # malformed is not sent again
    assert "prompt too long" in rows[samples[8].id]["error"]
    assert "Bearer ***" in rows[samples[11].id]["error"]
    usage = read_manifest(run_dir)["generation"]["usage"]
    assert usage == {"prompt_tokens": 11 * 3, "completion_tokens": 7 * 3}
    for path in [*run_dir.iterdir(), tmp_path / "rows.jsonl"]:
        assert SECRET.encode() not in path.read_bytes(), path
