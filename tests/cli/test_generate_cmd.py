"""`crosseval generate` / `crosseval export` end to end: real CLI, real `openai` client, loopback HTTP server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from crosseval.cli import app
from crosseval.cli.common import default_run_dir
from crosseval.data.images import clear_image_memo
from crosseval.data.loaders import Benchmark, load_benchmark
from crosseval.data.records import Sample
from crosseval.engine.manifest import read_manifest
from crosseval.engine.store import RunStore
from tests.conftest import REPO_ROOT
from tests.engine.sample_images import write_sample_images
from tests.helpers.openai_server import OpenAIServer, Reply, constant, last_user_text
from tests.judge.fixtures import JUDGE_MODEL, JudgeScript

SECRET = "sk-test-SECRET"
MODEL = "openai/test-model"


@pytest.fixture
def data(cross_sample: Path, tmp_path: Path) -> tuple[list[str], Benchmark]:
    """CLI data flags for real casa/english + safeworld/multilingual records with test-made images."""
    files = [cross_sample / "casa" / "english.json", cross_sample / "safeworld" / "multilingual.json"]
    images = tmp_path / "images"
    benchmark = load_benchmark(files, images_root=images)
    write_sample_images(benchmark.samples, images)
    clear_image_memo()
    flags = [arg for f in files for arg in ("--data", str(f))] + ["--images", str(images)]
    return flags, benchmark


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    return SECRET


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def generate(server_url: str, data_flags: list[str], run_dir: Path, *extra: str) -> Any:
    return invoke(
        "generate", "--model", MODEL, "--base-url", server_url, *data_flags, "--run-dir", str(run_dir),
        "--no-progress", "--retry-base-delay", "0.001", *extra,
    )  # fmt: skip


def generate_process(data_flags: list[str], run_dir: Path, *extra: str) -> tuple[list[str], dict[str, str]]:
    """A `crosseval generate` subprocess command (2 rounds, no progress; `--base-url` still to add) and its env."""
    command = [sys.executable, "-m", "crosseval", "generate", "--model", MODEL, *data_flags]
    command += ["--run-dir", str(run_dir), "--rounds", "2", "--no-progress", *extra]
    return command, {**os.environ, "OPENAI_API_KEY": SECRET, "PYTHONPATH": str(REPO_ROOT / "src")}


def start_and_wait_for_requests(
    command: list[str], env: dict[str, str], server: OpenAIServer, requests: int
) -> subprocess.Popen[str]:
    """Start `command` against `server` and return once `requests` reached it (or it ended, or 60 s passed)."""
    process = subprocess.Popen(
        [*command, "--base-url", server.base_url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while server.count < requests and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    return process


def table_value(output: str, label: str) -> str:
    """The value cell of the summary table row named `label`."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("│| ").split("│")]
        if len(cells) == 2 and cells[0] == label:
            return cells[1]
    raise AssertionError(f"no row {label!r} in:\n{output}")


def stored(run_dir: Path) -> list[Any]:
    with RunStore.open_for_reading(run_dir) as store:
        return store.generations()


def assert_no_secret(run_dir: Path, *outputs: str) -> None:
    for path in run_dir.iterdir():
        assert SECRET.encode() not in path.read_bytes(), path
    for output in outputs:
        assert SECRET not in output


def test_generate_then_export_end_to_end(
    openai_server: OpenAIServer, data: tuple[list[str], Benchmark], key: str, tmp_path: Path
) -> None:
    flags, benchmark = data
    openai_server.script = lambda body, n: Reply(text=f"reply to: {last_user_text(body)[:20]}")
    run_dir = tmp_path / "run"

    result = generate(openai_server.base_url, flags, run_dir, "--rounds", "2", "--temperature", "0.7")

    assert result.exit_code == 0, result.output
    n = len(benchmark.samples)
    assert openai_server.count == 2 * n
    assert table_value(result.output, "sent") == table_value(result.output, "ok") == f"{2 * n}"
    assert table_value(result.output, "run holds (ok / error / missing)") == f"{2 * n} / 0 / 0"
    body = openai_server.requests[0]
    assert body["model"] == "test-model" and body["temperature"] == 0.7
    image_part, text_part = body["messages"][0]["content"]
    assert image_part["image_url"]["url"].startswith(("data:image/jpeg;base64,", "data:image/png;base64,"))
    assert text_part["text"] in {s.prompt_text for s in benchmark.samples}
    assert openai_server.headers[0]["Authorization"] == f"Bearer {key}"

    rows = stored(run_dir)
    assert Counter((r.sample_id, r.round) for r in rows) == {
        (s.id, k): 1 for s in benchmark.samples for k in (1, 2)
    }
    assert all(r.status == "ok" and r.response and r.response.startswith("reply to:") for r in rows)

    exported = invoke("export", str(run_dir), "--format", "jsonl")
    assert exported.exit_code == 0
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(lines) == 2 * n
    first = lines[0]
    assert {
        "sample_id",
        "round",
        "status",
        "response",
        "error",
        "subset",
        "setting",
        "country",
        "language",
    } <= set(first)
    assert first["model"] == MODEL and first["prompt_tokens"] == 11 and first["completion_tokens"] == 7

    parquet = tmp_path / "gen.parquet"
    assert invoke("export", str(run_dir), "--format", "parquet", "--out", str(parquet)).exit_code == 0
    assert pq.read_table(parquet).num_rows == 2 * n

    manifest = read_manifest(run_dir)
    assert manifest["generation"]["usage"] == {"prompt_tokens": 11 * 2 * n, "completion_tokens": 7 * 2 * n}
    assert manifest["generation"]["base_url"] == openai_server.base_url
    assert_no_secret(run_dir, result.output, exported.output)


def test_faults_end_as_stored_results_or_errors_with_reasons_and_bounded_retries(
    openai_server: OpenAIServer, data: tuple[list[str], Benchmark], key: str, tmp_path: Path
) -> None:
    flags, benchmark = data
    prompts = sorted({s.prompt_text for s in benchmark.samples})
    faults = dict(
        zip(
            ["storm", "server", "timeout", "malformed", "empty", "filter", "drop_once", "auth"],
            prompts,
            strict=False,
        )
    )
    by_prompt = {prompt: fault for fault, prompt in faults.items()}
    seen: Counter[str] = Counter()

    def script(body: dict[str, Any], n: int) -> Reply:
        fault = by_prompt.get(last_user_text(body), "fine")
        seen[fault] += 1
        if fault == "storm":
            return (
                Reply(status=429, text="slow down", headers={"retry-after-ms": "5"})
                if seen[fault] <= 3
                else Reply()
            )
        if fault == "server":
            return Reply(status=500, text="internal error")
        if fault == "timeout":
            return Reply(delay_s=1.0)
        if fault == "malformed":
            return Reply(raw_body="{this is not json")
        if fault == "empty":
            return Reply(
                raw_body=json.dumps({"id": "x", "object": "chat.completion", "created": 0, "choices": []})
            )
        if fault == "filter":
            return Reply(text="", finish_reason="content_filter")
        if fault == "drop_once":
            return Reply(drop_connection=seen[fault] == 1)
        if fault == "auth":
            return Reply(status=401, text=f"Incorrect API key provided: {SECRET}")
        return Reply()

    openai_server.script = script
    run_dir = tmp_path / "run"
    result = generate(
        openai_server.base_url, flags, run_dir, "--rounds", "1", "--max-attempts", "4", "--timeout", "0.3"
    )

    assert result.exit_code == 0, result.output
    rows = {r.sample_id: r for r in stored(run_dir)}
    assert len(rows) == len(benchmark.samples)
    samples_of: dict[str, list[Sample]] = {
        f: [s for s in benchmark.samples if s.prompt_text == p] for f, p in faults.items()
    }
    expected_error = {"server": "server", "timeout": "timeout", "malformed": "malformed", "empty": "empty"}
    expected_error |= {"filter": "content_filter", "auth": "auth"}
    for fault, kind in expected_error.items():
        for sample in samples_of[fault]:
            row = rows[sample.id]
            assert (row.status, row.error_kind, row.response) == ("error", kind, None), fault
            assert row.error
    for fault in ("storm", "drop_once"):
        assert {rows[s.id].status for s in samples_of[fault]} == {"ok"}
    for fault in ("server", "empty", "timeout"):
        assert {rows[s.id].attempts for s in samples_of[fault]} == {4}
    assert {rows[s.id].attempts for s in samples_of["malformed"]} == {1}
    assert seen["server"] == 4 * len(samples_of["server"])
    assert seen["auth"] == len(samples_of["auth"]) and seen["filter"] == len(samples_of["filter"])
    errors = Counter(kind for fault, kind in expected_error.items() for _ in samples_of[fault])
    for kind, count in errors.items():
        assert table_value(result.output, f"error: {kind}") == str(count)
    assert_no_secret(run_dir, result.output)


def test_a_refused_connection_stops_the_command_and_stores_nothing(
    data: tuple[list[str], Benchmark], key: str, tmp_path: Path
) -> None:
    flags, _ = data
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run_dir = tmp_path / "run"

    result = generate(f"http://127.0.0.1:{port}/v1", flags, run_dir, "--rounds", "1", "--max-attempts", "2")

    assert result.exit_code == 1, result.output
    assert stored(run_dir) == []
    assert f"cannot reach http://127.0.0.1:{port}/v1" in result.stderr


def test_resume_sends_only_what_is_missing_and_retry_errors_resends_errors(
    openai_server: OpenAIServer, data: tuple[list[str], Benchmark], key: str, tmp_path: Path
) -> None:
    flags, benchmark = data
    n = len(benchmark.samples)
    run_dir = tmp_path / "run"
    assert generate(openai_server.base_url, flags, run_dir, "--rounds", "1", "--limit", "10").exit_code == 0
    assert openai_server.count == 10

    openai_server.script = lambda body, k: Reply(status=400, text="bad") if k % 5 == 0 else Reply()
    result = generate(openai_server.base_url, flags, run_dir, "--rounds", "1")
    assert result.exit_code == 0
    assert openai_server.count == n
    failed = sum(1 for r in stored(run_dir) if r.status == "error")
    assert failed > 0

    before = openai_server.count
    assert generate(openai_server.base_url, flags, run_dir, "--rounds", "1").exit_code == 0
    assert openai_server.count == before

    openai_server.script = constant("fixed")
    assert generate(openai_server.base_url, flags, run_dir, "--rounds", "1", "--retry-errors").exit_code == 0
    assert openai_server.count == before + failed
    rows = stored(run_dir)
    assert len(rows) == n and all(r.status == "ok" for r in rows)


def test_stored_errors_come_with_what_to_do_about_them(
    openai_server: OpenAIServer, data: tuple[list[str], Benchmark], key: str, tmp_path: Path
) -> None:
    flags, _ = data
    run_dir = tmp_path / "run"
    openai_server.script = lambda body, n: Reply(status=401, text="Incorrect API key provided")
    refused = generate(openai_server.base_url, flags, run_dir, "--rounds", "1", "--limit", "3")
    assert refused.exit_code == 0
    assert "the server refused the API key: check CROSSEVAL_API_KEY" in refused.stderr
    assert "3 request(s) are stored as errors (never judged); add --retry-errors" in refused.stderr

    openai_server.script = constant("fine")
    fixed = generate(
        openai_server.base_url, flags, run_dir, "--rounds", "1", "--limit", "3", "--retry-errors"
    )
    assert fixed.exit_code == 0
    assert "note:" not in fixed.stderr


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_loses_nothing_and_duplicates_nothing(
    data: tuple[list[str], Benchmark], tmp_path: Path
) -> None:
    flags, benchmark = data
    n = len(benchmark.samples)
    run_dir = tmp_path / "run"
    command, env = generate_process(flags, run_dir, "--max-connections", "4")

    with OpenAIServer(constant("slow", delay_s=0.2)) as slow:
        process = start_and_wait_for_requests(command, env, slow, 16)
        assert process.poll() is None, "generate ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        sent_before_kill = slow.count

    survived = stored(run_dir)
    assert 0 < len(survived) < 2 * n
    assert sent_before_kill - len(survived) <= 4  # at most the requests in flight are lost

    with OpenAIServer(constant("fast")) as fast:
        rerun = subprocess.run(
            [*command, "--base-url", fast.base_url], env=env, capture_output=True, text=True, timeout=120
        )
        assert rerun.returncode == 0, rerun.stderr
        assert fast.count == 2 * n - len(survived)

    rows = stored(run_dir)
    assert Counter((r.sample_id, r.round) for r in rows) == {
        (s.id, k): 1 for s in benchmark.samples for k in (1, 2)
    }
    assert all(r.status == "ok" for r in rows)
    assert {r.key: r.response for r in rows if r.key in {s.key for s in survived}} == {
        s.key: "slow" for s in survived
    }
    assert read_manifest(run_dir)["generation"]["status"] == "complete"
    assert_no_secret(run_dir, rerun.stdout, rerun.stderr)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_with_exit_130_and_an_interrupted_manifest(
    data: tuple[list[str], Benchmark], tmp_path: Path
) -> None:
    flags, benchmark = data
    run_dir = tmp_path / "run"
    command, env = generate_process(flags, run_dir, "--max-connections", "2")

    with OpenAIServer(constant("slow", delay_s=0.2)) as slow:
        process = start_and_wait_for_requests(command, env, slow, 6)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)

    assert process.returncode == 130, err
    assert "run the same command again" in err
    generation = read_manifest(run_dir)["generation"]
    rows = stored(run_dir)
    assert generation["status"] == "interrupted"
    assert generation["stored"] == {
        "ok": len(rows),
        "error": 0,
        "missing": 2 * len(benchmark.samples) - len(rows),
    }
    assert all(r.status == "ok" and r.response == "slow" for r in rows)


def test_yaml_config_supplies_flags_and_explicit_flags_win(
    openai_server: OpenAIServer, data: tuple[list[str], Benchmark], key: str, tmp_path: Path
) -> None:
    flags, _ = data
    config = tmp_path / "gen.yaml"
    config.write_text(
        f"model: {MODEL}\nbase-url: {openai_server.base_url}\nrounds: 3\nmax_connections: 2\n"
        f"--temperature: 0.25\nlimit: 4\nprogress: false\n",
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"

    result = invoke("generate", "--config", str(config), *flags, "--run-dir", str(run_dir), "--rounds", "1")

    assert result.exit_code == 0, result.output
    assert openai_server.count == 4
    assert {body["temperature"] for body in openai_server.requests} == {0.25}
    assert read_manifest(run_dir)["generation"]["rounds"] == 1


def test_yaml_config_with_an_unknown_setting_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "gen.yaml"
    config.write_text("model: openai/x\nmax_conections: 3\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["generate", "--config", str(config)])
    assert result.exit_code == 2
    assert "max_conections" in result.output


def test_yaml_config_takes_a_single_value_for_a_repeatable_flag_and_flag_aliases(
    openai_server: OpenAIServer, data: tuple[list[str], Benchmark], key: str, tmp_path: Path
) -> None:
    _, benchmark = data
    images = data[0][data[0].index("--images") + 1]
    data_file = benchmark.files[0].path
    config = tmp_path / "gen.yaml"
    config.write_text(
        f"model: {MODEL}\ndata: {data_file}\nimages: {images}\nid: casa/Japan_2\nmax-side: 64\n"
        "rounds: 1\nprogress: false\n",
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"

    result = invoke(
        "generate", "--config", str(config), "--base-url", openai_server.base_url, "--run-dir", str(run_dir)
    )

    assert result.exit_code == 0, result.output
    assert openai_server.count == 1
    assert read_manifest(run_dir)["generation"]["image_options"]["max_side"] == 64
    with RunStore.open_for_reading(run_dir) as store:
        assert [r.sample_id for r in store.generations()] == ["casa/english/1/Japan_2"]


def test_yaml_config_suggests_the_setting_a_typo_meant(tmp_path: Path) -> None:
    config = tmp_path / "gen.yaml"
    config.write_text("model: openai/x\ntemprature: 0.3\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["generate", "--config", str(config)])
    assert result.exit_code == 2
    assert "did you mean 'temperature'?" in " ".join(result.output.split())


def test_missing_key_and_unknown_provider_fail_before_any_request(
    openai_server: OpenAIServer, data: tuple[list[str], Benchmark], tmp_path: Path
) -> None:
    flags, _ = data
    missing = invoke("generate", "--model", "openai/gpt-4o-mini", *flags, "--run-dir", str(tmp_path / "a"))
    assert missing.exit_code == 2
    assert "OPENAI_API_KEY" in missing.output

    unknown = invoke("generate", "--model", "nosuch/model", *flags, "--run-dir", str(tmp_path / "b"))
    assert unknown.exit_code == 2
    assert "nosuch" in unknown.output
    assert openai_server.count == 0
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_other_params_on_an_existing_run_dir_are_refused(
    openai_server: OpenAIServer, data: tuple[list[str], Benchmark], key: str, tmp_path: Path
) -> None:
    flags, _ = data
    run_dir = tmp_path / "run"
    assert generate(openai_server.base_url, flags, run_dir, "--rounds", "1", "--limit", "2").exit_code == 0
    sent = openai_server.count

    result = generate(openai_server.base_url, flags, run_dir, "--rounds", "1", "--max-tokens", "50")

    assert result.exit_code == 2
    assert "another --run-dir" in result.output
    assert openai_server.count == sent


def test_dry_run_prints_the_estimate_and_sends_nothing(
    openai_server: OpenAIServer, data: tuple[list[str], Benchmark], key: str, tmp_path: Path
) -> None:
    flags, benchmark = data
    run_dir = tmp_path / "run"
    result = generate(openai_server.base_url, flags, run_dir, "--dry-run", "--max-tokens", "100")

    assert result.exit_code == 0, result.output
    assert openai_server.count == 0
    assert table_value(result.output, "would send") == str(3 * len(benchmark.samples))
    assert (
        table_value(result.output, "completion tokens, at most (--max-tokens)")
        == f"{3 * len(benchmark.samples) * 100:,}"
    )
    assert not run_dir.exists()


def test_a_dry_run_of_a_hosted_model_needs_no_key(data: tuple[list[str], Benchmark], tmp_path: Path) -> None:
    """Estimating before having a key works; the real run still stops for the missing key."""
    flags, benchmark = data
    model = ("--model", "openai/gpt-4o-mini", *flags)
    dry = invoke("generate", *model, "--run-dir", str(tmp_path / "dry"), "--dry-run", "--no-progress")
    assert dry.exit_code == 0, dry.output
    assert table_value(dry.output, "would send") == str(3 * len(benchmark.samples))

    real = invoke("generate", *model, "--run-dir", str(tmp_path / "real"), "--no-progress")
    assert real.exit_code == 2
    assert "OPENAI_API_KEY" in real.output


def test_export_of_a_missing_run_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "no run store" in result.output


def test_default_run_dir_is_the_model_slug() -> None:
    assert default_run_dir("openai/GPT-4o mini") == Path("runs/openai-gpt-4o-mini")
    assert default_run_dir("hf/./my-vlm") == Path("runs/hf-.-my-vlm")
    assert default_run_dir("..") == default_run_dir("/") == Path("runs/model")


def test_the_same_command_without_run_dir_resumes_its_run(
    openai_server: OpenAIServer,
    data: tuple[list[str], Benchmark],
    key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flags, _ = data
    monkeypatch.chdir(tmp_path)
    args = ["generate", "--model", MODEL, "--base-url", openai_server.base_url, *flags, "--limit", "3"]
    args += ["--rounds", "1", "--no-progress"]

    first = invoke(*args)
    again = invoke(*args)

    assert first.exit_code == again.exit_code == 0, first.output + again.output
    assert "run dir: runs/openai-test-model" in again.output
    assert openai_server.count == 3
    assert table_value(again.output, "already stored, skipped") == "3"
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["openai-test-model"]


def _closed_port() -> int:
    with socket.socket() as probe:  # a port nothing listens on: a connection is refused at once
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_hf_model_the_hub_cannot_deliver_fails_at_once_in_one_line(
    data: tuple[list[str], Benchmark], tmp_path: Path
) -> None:
    pytest.importorskip("transformers")
    flags, _ = data
    command, env = generate_process(flags, tmp_path / "run")
    command[command.index("--model") + 1] = "hf/nobody/no-such-vlm"
    env |= {"HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}", "HF_HUB_CACHE": str(tmp_path / "hub")}
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("TRANSFORMERS_OFFLINE", None)

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: cannot load the model 'nobody/no-such-vlm': not a local folder, not in the Hugging Face cache, "
        f"and the hub at {env['HF_ENDPOINT']} cannot be reached (ConnectError): check the network, or give a "
        "local folder"
    ]


@pytest.mark.parametrize(
    ("model", "offline", "message"),
    [
        ("hf/models/my/vlm", False, "no such folder, and not a hub model id (namespace/name)"),
        (
            "hf/nobody/no-such-vlm",
            True,
            "not a local folder, not in the Hugging Face cache, and HF_HUB_OFFLINE",
        ),
    ],
)
def test_an_hf_model_that_cannot_be_found_needs_no_network(
    data: tuple[list[str], Benchmark],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    offline: bool,
    message: str,
) -> None:
    pytest.importorskip("transformers")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    flags, _ = data

    result = invoke("generate", "--model", model, *flags, "--run-dir", str(tmp_path / "run"), "--no-progress")

    assert result.exit_code == 2
    assert f"error: cannot load the model {model.removeprefix('hf/')!r}: {message}" in result.stderr


def _judge(run_dir: Path, server: OpenAIServer, *extra: str) -> Any:
    args = ["judge", str(run_dir), "--judge", f"openai/{JUDGE_MODEL}", "--judge-base-url", server.base_url]
    return invoke(*args, "--no-progress", "--max-attempts", "1", "--max-reasks", "0", *extra)


def test_export_verdicts_one_row_per_sample_round_and_dimension(
    openai_server: OpenAIServer, data: tuple[list[str], Benchmark], key: str, tmp_path: Path
) -> None:
    flags, benchmark = data
    openai_server.script = JudgeScript(
        replies={
            "awareness": "It names the custom.\nScore: 1",
            "education": "No reason given.\nScore: 0",
            "violation": "I cannot decide.",
            "helpfulness": "Useful.\nScore: 1",
        },
        single_reply='{"awareness": 0, "education": 1, "violation": 0, "helpfulness": 1}',
    )
    run_dir = tmp_path / "run"
    assert generate(openai_server.base_url, flags, run_dir, "--rounds", "2", "--limit", "3").exit_code == 0
    paper = _judge(run_dir, openai_server)
    assert paper.exit_code == 0, paper.output

    exported = invoke("export", str(run_dir), "--what", "verdicts")
    assert exported.exit_code == 0, exported.output
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    ids = [s.id for s in benchmark.samples[:3]]
    assert Counter((r["sample_id"], r["round"], r["dimension"]) for r in rows) == {
        (i, k, d): 1
        for i in ids
        for k in (1, 2)
        for d in ("awareness", "education", "violation", "helpfulness")
    }
    by_dimension = {(r["dimension"], r["status"], r["score"]) for r in rows}
    assert by_dimension == {
        ("awareness", "ok", 1),
        ("education", "ok", 0),
        ("violation", "parse_error", None),
        ("helpfulness", "ok", 1),
    }
    assert {r["raw"] for r in rows if r["dimension"] == "violation"} == {"I cannot decide."}

    single = _judge(run_dir, openai_server, "--protocol", "single")
    assert single.exit_code == 0, single.output
    with RunStore.open_for_reading(run_dir) as store:
        configs = store.judge_configs()
    assert len(configs) == 2
    ambiguous = invoke("export", str(run_dir), "--what", "verdicts")
    assert ambiguous.exit_code == 2
    assert "--judge-config" in ambiguous.output and all(c in ambiguous.output for c in configs)

    single_config = next(c for c in configs if "|single|" in c)
    parquet = tmp_path / "verdicts.parquet"
    chosen = invoke(
        "export", str(run_dir), "--what", "verdicts", "--judge-config", single_config,
        "--format", "parquet", "--out", str(parquet),
    )  # fmt: skip
    assert chosen.exit_code == 0, chosen.output
    table = pq.read_table(parquet).to_pylist()
    assert len(table) == 24 and {r["judge_config"] for r in table} == {single_config}
    assert {(r["dimension"], r["score"]) for r in table} == {
        ("awareness", 0),
        ("education", 1),
        ("violation", 0),
        ("helpfulness", 1),
    }

    wrong = invoke("export", str(run_dir), "--judge-config", single_config)
    assert wrong.exit_code == 2
    assert "--what verdicts only" in wrong.output


def test_max_request_mb_caps_the_payload_before_sending(
    openai_server: OpenAIServer, data: tuple[list[str], Benchmark], key: str, tmp_path: Path
) -> None:
    flags, _ = data
    run_dir = tmp_path / "run"
    result = generate(
        openai_server.base_url, flags, run_dir, "--rounds", "1", "--limit", "2", "--max-request-mb", "0.001"
    )
    assert result.exit_code == 0, result.output
    assert openai_server.count == 0
    assert {(r.status, r.error_kind) for r in stored(run_dir)} == {("error", "too_large")}
    assert table_value(result.output, "error: too_large") == "2"


def test_backend_flags_that_do_not_fit_the_provider_fail_before_anything(
    openai_server: OpenAIServer, data: tuple[list[str], Benchmark], key: str, tmp_path: Path
) -> None:
    flags, _ = data
    for extra, message in (
        (("--vllm-offline",), "--vllm-offline needs a vllm/ model"),
        (("--device", "cpu"), "--device applies to hf/ models only"),
        (("--dtype", "float16"), "--dtype applies to hf/ models and vllm/"),
    ):
        result = generate(openai_server.base_url, flags, tmp_path / "run", "--limit", "1", *extra)
        assert result.exit_code == 2
        assert message in result.output
    assert openai_server.count == 0
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_device_and_dtype_reach_an_in_process_hf_model(
    data: tuple[list[str], Benchmark], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crosseval.models.registry as registry
    from tests.helpers.tiny_vlm import build_tiny_llava

    configs: list[Any] = []
    real_create_backend = registry.create_backend

    def recording_create_backend(config: Any) -> Any:
        configs.append(config)
        return real_create_backend(config)

    monkeypatch.setattr(registry, "create_backend", recording_create_backend)
    model = f"hf/{build_tiny_llava(tmp_path / 'tiny')}"
    flags, _ = data
    run_dir = tmp_path / "run"
    args = ["--model", model, *flags, "--run-dir", str(run_dir), "--limit", "2", "--rounds", "1"]
    args += ["--max-tokens", "4", "--batch-size", "2", "--no-progress"]

    result = invoke("generate", *args, "--device", "cpu", "--dtype", "float32")

    assert result.exit_code == 0, result.output
    assert [(c.model, c.device, c.dtype, c.batch_size) for c in configs] == [(model, "cpu", "float32", 2)]
    rows = stored(run_dir)
    assert len(rows) == 2 and {r.status for r in rows} == {"ok"}
    assert read_manifest(run_dir)["generation"]["identity"]["dtype"] == "float32"

    other_dtype = invoke("generate", *args, "--device", "cpu", "--dtype", "bfloat16")
    assert other_dtype.exit_code == 2
    assert "another --run-dir" in other_dtype.output
