"""End to end: `crosseval run` on the shared sample, the loopback server playing both model and judge."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from crosseval.cli import app
from crosseval.data.loaders import load_benchmark
from crosseval.engine.store import RunStore
from tests.helpers.openai_server import OpenAIServer, Reply
from tests.judge.fixtures import JUDGE_MODEL, MODEL, JudgeScript, cross_folder_with_images, first_user_text

# awareness 1, education 0, violation 0 (compliance 100), helpfulness 1, each in a different format
REPLIES = {
    "awareness": "It recognises the custom (1 = recognises).\nScore: 1",
    "education": "It never says why; step 1 is missing.\nFinal answer: 0",
    "violation": "It steers away from the breach.\n**0**",
    "helpfulness": '{"reason": "offers an alternative", "score": 1}',
}


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _run_args(server: OpenAIServer, folder: Path, run_dir: Path, *extra: str) -> list[str]:
    """`crosseval run` with the loopback server as model and judge, one round, one attempt."""
    args = [
        "run",
        "--model",
        f"openai/{MODEL}",
        "--base-url",
        server.base_url,
        "--judge",
        f"openai/{JUDGE_MODEL}",
    ]
    args += ["--judge-base-url", server.base_url, "--data", str(folder), "--run-dir", str(run_dir)]
    return [*args, "--rounds", "1", "--max-attempts", "1", "--no-progress", *extra]


def test_run_generates_judges_and_prints_the_table(
    tmp_path: Path, cross_sample: Path, openai_server: OpenAIServer
) -> None:
    folder = cross_folder_with_images(cross_sample, tmp_path / "cross")
    samples = load_benchmark([folder]).samples
    failing = next(s for s in samples if s.id == "casa/english/1/Iran_5")

    def model_reply(body: dict[str, Any]) -> Reply:
        if first_user_text(body) == failing.prompt_text:
            return Reply(text="scripted model failure", status=400)
        return Reply(text="Here is some advice.")

    openai_server.script = JudgeScript(replies=dict(REPLIES), model_reply=model_reply)
    run_dir = tmp_path / "run"
    result = _invoke(*_run_args(openai_server, folder, run_dir))
    output = result.output
    assert result.exit_code == 0, output

    n = len(samples)
    assert f"{n} sample(s) x 1 round(s)" in output
    assert f"in the run: {n - 1} ok, 1 error(s)" in output
    assert (
        f"{n - 1} response(s) x 4 dimensions = {4 * (n - 1)} verdicts, 1 failed generation(s) not judged"
        in output
    )
    assert f"this run:   {4 * (n - 1)} ok" in output

    lines = output.splitlines()
    title = next(i for i, line in enumerate(lines) if line.strip() == "CROSS-Eval")
    tables = lines[title : next(i for i, line in enumerate(lines) if line.startswith("Run directory"))]
    assert max(map(len, tables)) <= 100  # the terminal summary, not the paper's 17-column Markdown table
    header = ["Model", "Awareness", "Education", "Compliance", "Helpfulness", "n"]
    assert any(line.split() == header for line in lines), output
    stripped = [line.strip() for line in lines]
    assert "CASA · English" in stripped
    overall = re.split(r"\s{2,}", stripped[stripped.index("Overall") + 1])
    assert overall[0] == f"openai/{MODEL}"
    means = [float(cell.split()[0]) for cell in overall[1:5]]
    assert means == [100.0, 0.0, 100.0, 100.0]  # awareness, education, compliance, helpfulness
    assert output.index("CASA · English") < output.index(f"Run directory: {run_dir}")

    with RunStore.open_for_reading(run_dir) as store:
        verdicts = store.verdicts()
        generations = store.generations()
    assert len(generations) == n
    assert len(verdicts) == 4 * (n - 1)
    assert {v.status for v in verdicts} == {"ok"}
    assert failing.id not in {v.sample_id for v in verdicts}
    by_dimension = {d: {v.score for v in verdicts if v.dimension == d} for d in REPLIES}
    assert by_dimension == {"awareness": {1}, "education": {0}, "violation": {0}, "helpfulness": {1}}

    requests_before = openai_server.count
    again = _invoke(*_run_args(openai_server, folder, run_dir))
    assert again.exit_code == 0, again.output
    assert openai_server.count == requests_before  # everything resumed from the store
    assert f"{4 * (n - 1)} already stored, 0 job(s) sent" in again.output


def test_run_with_no_matching_samples_fails_clearly(tmp_path: Path, cross_sample: Path) -> None:
    folder = cross_folder_with_images(cross_sample, tmp_path / "cross")
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--model",
            "openai/m",
            "--judge",
            "openai/j",
            "--data",
            str(folder),
            "--country",
            "Atlantis",
            "--no-progress",
        ],
    )
    assert result.exit_code != 0
    assert "no samples" in result.output or "Atlantis" in result.output


def test_run_checks_the_judge_before_any_model_request(
    tmp_path: Path, cross_sample: Path, openai_server: OpenAIServer
) -> None:
    folder = cross_folder_with_images(cross_sample, tmp_path / "cross")
    common = [
        "run",
        "--model",
        f"openai/{MODEL}",
        "--base-url",
        openai_server.base_url,
        "--data",
        str(folder),
    ]
    common += ["--run-dir", str(tmp_path / "run"), "--limit", "1", "--no-progress"]

    no_key = CliRunner().invoke(app, [*common, "--judge", "openai/gpt-4o-2024-08-06"])
    assert no_key.exit_code == 2
    assert "CROSSEVAL_JUDGE_API_KEY" in no_key.output

    bad_rubric = CliRunner().invoke(
        app,
        [
            *common,
            "--judge",
            "openai/j",
            "--judge-base-url",
            openai_server.base_url,
            "--rubric",
            str(tmp_path),
        ],
    )
    assert bad_rubric.exit_code == 2
    assert "system.j2: missing" in bad_rubric.output

    assert openai_server.count == 0
    assert not (tmp_path / "run" / "run.sqlite").exists()


def test_judge_backend_flags_reach_the_judge(
    tmp_path: Path, cross_sample: Path, openai_server: OpenAIServer
) -> None:
    folder = cross_folder_with_images(cross_sample, tmp_path / "cross")
    openai_server.script = JudgeScript(replies=dict(REPLIES))
    run_dir = tmp_path / "run"
    args = _run_args(openai_server, folder, run_dir, "--limit", "2", "--judge-max-request-mb", "0.001")

    result = _invoke(*args)

    # Every judge request is over the cap: nothing reaches the judge, each verdict is stored as an API error,
    # and the run fails saying so instead of printing a table of dashes.
    assert result.exit_code == 1, result.output
    assert "the judge returned no usable verdict (8 api_error)" in result.output
    assert "CROSS-Eval" not in result.output
    assert openai_server.count == 2  # the model's two requests only
    with RunStore.open_for_reading(run_dir) as store:
        verdicts = store.verdicts()
    assert len(verdicts) == 8
    assert {(v.status, v.score) for v in verdicts} == {("api_error", None)}
    assert all((v.error or "").startswith("too_large: ") for v in verdicts)

    offline = _invoke(*_run_args(openai_server, folder, tmp_path / "other", "--judge-vllm-offline"))
    assert offline.exit_code == 2
    assert "--judge-vllm-offline needs a vllm/ model" in offline.output
    assert openai_server.count == 2
