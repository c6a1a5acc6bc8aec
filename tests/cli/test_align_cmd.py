from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from crosseval.cli import app
from tests.align import fakes
from tests.helpers.openai_server import OpenAIServer, Reply

runner = CliRunner()

NORM = {
    "norm": "In Kenya, greeting elders with the left hand is disrespectful.",
    "country": "Kenya",
    "item": "greeting",
}


def _norms(tmp_path: Path, scenes: list[str]) -> Path:
    path = tmp_path / "norms.jsonl"
    path.write_text("".join(json.dumps({**NORM, "scene": s}) + "\n" for s in scenes), encoding="utf-8")
    return path


def _model_flags(server: OpenAIServer) -> list[str]:
    return [
        "--teacher",
        "openai/teacher",
        "--teacher-base-url",
        server.base_url,
        "--judge",
        "openai/judge",
        "--judge-base-url",
        server.base_url,
        "--max-attempts",
        "1",
    ]


def _import_upstream(cross_sample: Path, out: Path) -> Any:
    """`crosseval align import` of the sampled upstream safety SFT file into `out`, unguarded."""
    source = cross_sample / "safety_sft" / "safety_sft_gpt4o_exclusive.jsonl"
    return runner.invoke(app, ["align", "import", str(source), "--out", str(out), "--no-leakage-check"])


def _train_sft(model: Path, data: Path, out: Path, *extra: str) -> Any:
    """`crosseval train sft` on the CPU."""
    args = ["train", "sft", "--model", str(model), "--data", str(data), "--out", str(out), "--device", "cpu"]
    return runner.invoke(app, [*args, *extra])


def _safety(norms: Path, out: Path, server: OpenAIServer, *extra: str) -> Any:
    """`crosseval align safety` with the loopback server as teacher and judge."""
    return runner.invoke(
        app, ["align", "safety", str(norms), "--out", str(out), *extra, *_model_flags(server)]
    )


def test_cvqa_and_import(cross_sample: Path, tmp_path: Path) -> None:
    source = cross_sample / "cvqa_sft" / "cvqa_sft_gpt4o.jsonl"
    args = ["align", "cvqa", str(source), "--out", str(tmp_path / "cvqa"), "--data", str(cross_sample)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote 39 SFT examples" in result.output
    card = json.loads((tmp_path / "cvqa" / "card.json").read_text())
    assert card["command"].startswith("crosseval align cvqa") and "--data" in card["command"]
    result = _import_upstream(cross_sample, tmp_path / "safety")
    assert result.exit_code == 0, result.output
    assert "wrote 7 SFT examples" in result.output


def test_safety_then_export(cross_sample: Path, tmp_path: Path) -> None:
    norms = _norms(
        tmp_path, ["I greet the elder with my left hand.", "A [weak] greeting with the left hand."]
    )
    with OpenAIServer(fakes.script()) as server:
        result = _safety(norms, tmp_path / "ds", server, "--data", str(cross_sample))
    assert result.exit_code == 0, result.output
    assert "wrote 1 SFT examples" in result.output and "judged_awareness=0: 1" in result.output
    result = runner.invoke(app, ["align", "export", str(tmp_path / "ds"), "--format", "openai"])
    assert result.exit_code == 0, result.output
    line = json.loads((tmp_path / "ds" / "openai.jsonl").read_text())
    assert line["messages"][1] == {"role": "assistant", "content": fakes.SAFE_ANSWER}


def test_dpo_from_norms(tmp_path: Path) -> None:
    norms = _norms(tmp_path, ["I greet the elder with my left hand."])
    with OpenAIServer(fakes.script()) as server:
        result = runner.invoke(
            app,
            [
                "align",
                "dpo",
                "--norms",
                str(norms),
                "--out",
                str(tmp_path / "pairs"),
                "--no-leakage-check",
                *_model_flags(server),
            ],
        )
    assert result.exit_code == 0, result.output
    assert "wrote 1 DPO examples" in result.output


def test_judge_rejecting_everything_exits_nonzero(tmp_path: Path) -> None:
    norms = _norms(tmp_path, ["Left hand greeting one.", "Left hand greeting two."])
    with OpenAIServer(fakes.script(reject_all=True)) as server:
        result = _safety(norms, tmp_path / "ds", server, "--no-leakage-check")
    assert result.exit_code == 1
    assert "no candidate passed the judge" in result.output
    assert not (tmp_path / "ds").exists()


def test_bad_norms_file_names_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "norms.jsonl"
    path.write_text(json.dumps({**NORM, "scene": "ok"}) + "\n" + json.dumps(NORM) + "\n")
    result = runner.invoke(
        app,
        [
            "align",
            "safety",
            str(path),
            "--out",
            str(tmp_path / "ds"),
            "--teacher",
            "openai/t",
            "--no-leakage-check",
        ],
    )
    assert result.exit_code == 1
    assert "line 2: missing field 'scene'" in result.output


def test_failing_teacher_never_prints_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    norms = _norms(tmp_path, ["Left hand greeting."])
    with OpenAIServer(lambda body, n: Reply(text=f"invalid key {secret}", status=401)) as server:
        result = _safety(norms, tmp_path / "ds", server, "--no-leakage-check")
        assert server.headers[0]["Authorization"] == f"Bearer {secret}"
    assert result.exit_code == 1
    assert "the teacher gave no usable answer" in result.output
    assert secret not in result.output
    assert not (tmp_path / "ds").exists()


def test_vqa_check_prints_accuracy(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8), (0, 0, 0)).save(tmp_path / "b.png")
    (tmp_path / "vqa.jsonl").write_text(
        json.dumps({"image": "b.png", "question": "Colour?", "answer": "black"})
        + "\n"
        + json.dumps({"image": "b.png", "question": "Shape?", "answer": "square"})
        + "\n"
    )
    with OpenAIServer(lambda body, n: Reply(text="Black")) as server:
        result = runner.invoke(
            app,
            [
                "align",
                "vqa-check",
                "--model",
                "openai/m",
                "--base-url",
                server.base_url,
                "--file",
                str(tmp_path / "vqa.jsonl"),
            ],
        )
    assert result.exit_code == 0, result.output
    assert "base: accuracy 50.0% (1/2 exact), 0 errors" in result.output


def test_train_sft_with_config_and_wrong_kind(tmp_path: Path, cross_sample: Path) -> None:
    from tests.helpers.tiny_vlm import build_tiny_llava

    model = build_tiny_llava(tmp_path / "tiny")
    result = _import_upstream(cross_sample, tmp_path / "ds")
    assert result.exit_code == 0, result.output
    config = tmp_path / "train.yaml"
    config.write_text("lora-r: 4\nmax-length: 512\nper-device-batch-size: 4\n")
    result = _train_sft(
        model, tmp_path / "ds", tmp_path / "adapter", "--config", str(config), "--batch-size", "2",
        "--grad-accum", "1", "--max-steps", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "trained 2 steps on 7 examples" in result.output
    card = json.loads((tmp_path / "adapter" / "training_card.json").read_text())
    assert card["lora"]["r"] == 4 and card["hyperparameters"]["per_device_batch_size"] == 2
    assert card["hyperparameters"]["max_length"] == 512
    result = _train_sft(model, tmp_path / "ds", tmp_path / "short", "--max-length", "64", "--max-steps", "1")
    assert result.exit_code == 1
    assert (
        "none of the 7 examples has a target token left after truncation to --max-length 64" in result.output
    )
    assert not (tmp_path / "short").exists()
    result = runner.invoke(
        app,
        ["train", "dpo", "--model", str(model), "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "x")],
    )
    assert result.exit_code == 1
    assert "a SFT dataset cannot train DPO" in result.output


def test_dpo_from_run_needs_no_models_when_the_run_has_both_answers(
    tmp_path: Path, cross_sample: Path
) -> None:
    from crosseval.engine.store import RunStore

    sample = fakes.sample(
        "Kenya_9", "Which of the gifts shown should I bring to my Kenyan host's grandmother?"
    )
    with RunStore.open_for_writing(tmp_path / "run", command="test") as store:
        store.put_samples([sample])
        fakes.store_generation(store, sample, 1, "UNSAFE")
        fakes.store_generation(store, sample, 2, "SAFE")
    args = ["align", "dpo", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "pairs")]
    result = runner.invoke(app, [*args, "--data", str(cross_sample)])
    assert result.exit_code == 0, result.output
    assert "wrote 1 DPO examples" in result.output
    card = json.loads((tmp_path / "pairs" / "card.json").read_text())
    assert card["counts"]["chosen_from"] == {"run": 1} and card["sources"][0]["path"].endswith("run.sqlite")
