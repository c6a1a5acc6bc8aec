"""`crosseval judge` on a generated run: summaries, resume, protocol and rubric flags, clear failures."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from crosseval.cli import app
from crosseval.data.loaders import SampleFilter, load_benchmark
from crosseval.engine.generation import GenerationConfig, run_generation
from crosseval.engine.retry import RetryPolicy
from crosseval.engine.store import DIMENSIONS, RunStore
from crosseval.models.backend_config import BackendConfig
from tests.helpers.openai_server import OpenAIServer
from tests.judge.fixtures import JUDGE_MODEL, MODEL, JudgeScript, cross_folder_with_images

SECRET = "sk-test-judge-secret-0123456789"


@pytest.fixture
def run_dir(tmp_path: Path, cross_sample: Path, openai_server: OpenAIServer) -> Path:
    folder = cross_folder_with_images(cross_sample, tmp_path / "cross")
    samples = load_benchmark(
        [folder], filters=SampleFilter(ids=["casa/Japan_2", "safeworld/Egypt_1"])
    ).samples
    openai_server.script = JudgeScript(
        single_reply='{"awareness": 1, "education": 0, "violation": 1, "helpfulness": 0}'
    )
    config = GenerationConfig(
        backend=BackendConfig(f"openai/{MODEL}", base_url=openai_server.base_url),
        rounds=2,
        retry=RetryPolicy(max_attempts=1),
        show_progress=False,
    )
    asyncio.run(run_generation(samples, tmp_path / "run", config, images_root=None))
    return tmp_path / "run"


def _judge(run_dir: Path, server: OpenAIServer, *extra: str) -> Result:
    args = ["judge", str(run_dir), "--judge", f"openai/{JUDGE_MODEL}", "--judge-base-url", server.base_url]
    return CliRunner().invoke(app, [*args, "--no-progress", *extra])


def test_judge_prints_a_summary_and_resumes(run_dir: Path, openai_server: OpenAIServer) -> None:
    first = _judge(run_dir, openai_server)
    assert first.exit_code == 0, first.output
    output = first.output
    assert f"Judge openai/{JUDGE_MODEL}|paper|" in output
    assert "8 response(s) x 4 dimensions = 32 verdicts; 0 already stored, 32 job(s) sent" in output
    assert "in the run: 32 ok" in output
    assert "judge tokens: 352 prompt + 224 completion" in output
    with RunStore.open_for_reading(run_dir) as store:
        assert len(store.verdicts()) == 32

    before = openai_server.count
    again = _judge(run_dir, openai_server)
    assert again.exit_code == 0
    assert "32 already stored, 0 job(s) sent" in again.output
    assert openai_server.count == before


def test_single_protocol_flag(run_dir: Path, openai_server: OpenAIServer) -> None:
    result = _judge(run_dir, openai_server, "--protocol", "single")
    assert result.exit_code == 0, result.output
    assert "|single|" in result.output
    assert "8 job(s) sent" in result.output
    with RunStore.open_for_reading(run_dir) as store:
        scores = {(v.dimension, v.score) for v in store.verdicts()}
    assert scores == {("awareness", 1), ("education", 0), ("violation", 1), ("helpfulness", 0)}


def test_user_rubric_changes_the_judge_config(
    run_dir: Path, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    from crosseval.judge.rubrics import DEFAULT_RUBRIC_DIR

    custom = tmp_path / "my-rubric"
    shutil.copytree(DEFAULT_RUBRIC_DIR, custom)
    (custom / "system.j2").write_text("You judge cultural safety, strictly.\n")
    assert _judge(run_dir, openai_server).exit_code == 0
    result = _judge(run_dir, openai_server, "--rubric", str(custom))
    assert result.exit_code == 0, result.output
    assert openai_server.requests[-1]["messages"][0]["content"] == "You judge cultural safety, strictly."
    with RunStore.open_for_reading(run_dir) as store:
        assert len(store.judge_configs()) == 2


def test_bad_flags_and_inputs_exit_with_messages(
    run_dir: Path, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    bad_protocol = _judge(run_dir, openai_server, "--protocol", "triple")
    assert bad_protocol.exit_code == 2
    assert "unknown --protocol 'triple'" in bad_protocol.output

    broken = tmp_path / "broken-rubric"
    broken.mkdir()
    bad_rubric = _judge(run_dir, openai_server, "--rubric", str(broken))
    assert bad_rubric.exit_code == 2
    assert "criteria/awareness.md: missing" in bad_rubric.output

    not_a_run = _judge(tmp_path / "elsewhere", openai_server)
    assert not_a_run.exit_code == 1
    assert "not a run directory" in not_a_run.output
    assert openai_server.count == 8  # only the fixture's generation requests (4 samples x 2 rounds)


def test_moved_images_are_found_with_images_flag(
    run_dir: Path, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    moved = tmp_path / "images-elsewhere"
    shutil.move(tmp_path / "cross" / "images", moved)
    lost = _judge(run_dir, openai_server)
    assert lost.exit_code == 1
    assert "could not be loaded" in lost.output
    found = _judge(run_dir, openai_server, "--images", str(moved))
    assert found.exit_code == 0, found.output


def test_the_judge_key_is_used_but_never_written(
    run_dir: Path, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSEVAL_JUDGE_API_KEY", SECRET)
    result = _judge(run_dir, openai_server)
    assert result.exit_code == 0
    assert openai_server.headers[-1].get("Authorization") == f"Bearer {SECRET}"
    assert SECRET not in result.output
    for path in run_dir.iterdir():
        assert SECRET.encode() not in path.read_bytes(), path


def test_flags_from_a_yaml_config(run_dir: Path, openai_server: OpenAIServer, tmp_path: Path) -> None:
    config = tmp_path / "judge.yaml"
    config.write_text(
        f"judge: openai/{JUDGE_MODEL}\njudge-base-url: {openai_server.base_url}\nprotocol: single\nprogress: false\n"
    )
    result = CliRunner().invoke(app, ["judge", str(run_dir), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"Judge openai/{JUDGE_MODEL}|single|" in result.output
    explicit = CliRunner().invoke(
        app, ["judge", str(run_dir), "--config", str(config), "--protocol", "paper"]
    )
    assert f"Judge openai/{JUDGE_MODEL}|paper|" in explicit.output


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ("I cannot say, maybe 7 out of 10.", "parse_error"),
        ("I'm sorry, but I can't help with that.", "refused"),
    ],
)
def test_a_judge_with_no_usable_verdict_fails_and_quotes_one(
    run_dir: Path, openai_server: OpenAIServer, reply: str, status: str
) -> None:
    openai_server.script = JudgeScript(
        replies=dict.fromkeys(DIMENSIONS, reply), followups=dict.fromkeys(DIMENSIONS, reply)
    )
    result = _judge(run_dir, openai_server)

    assert result.exit_code == 1, result.output
    assert f"in the run: 32 {status}" in result.output
    assert f"the judge returned no usable verdict (32 {status})" in result.output
    assert reply.split(",")[0] in result.output
    with RunStore.open_for_reading(run_dir) as store:
        assert {(v.status, v.score) for v in store.verdicts()} == {(status, None)}
