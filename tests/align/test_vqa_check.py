from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from crosseval.align.errors import AlignError
from crosseval.align.vqa_check import exact_match, normalize_answer, read_vqa_file, vqa_accuracy
from crosseval.engine.retry import RetryPolicy
from crosseval.models.registry import BackendConfig, create_backend
from tests.helpers.openai_server import OpenAIServer, Reply, last_user_text


def test_normalisation_and_exact_match() -> None:
    assert normalize_answer(" The Red-Apple. ") == "red apple"
    assert exact_match("A dog!", ("dog",))
    assert exact_match("two", ("2", "two"))
    assert not exact_match("a red dog", ("dog",))


def vqa_file(tmp_path: Path) -> Path:
    Image.new("RGB", (8, 8), (0, 0, 0)).save(tmp_path / "black.png")
    rows = [
        {"image": "black.png", "question": "What colour is this?", "answer": "black"},
        {"image": "black.png", "question": "How many squares?", "answer": ["1", "one"]},
        {"image": "black.png", "question": "Is it round?", "answer": "no"},
        {"image": "black.png", "question": "Broken server?", "answer": "x"},
    ]
    path = tmp_path / "vqa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


REPLIES = {"What colour is this?": "Black.", "How many squares?": "One", "Is it round?": "Yes, it is"}


def vqa_script(body: dict[str, Any], n: int) -> Reply:
    question = last_user_text(body).splitlines()[0]
    if question not in REPLIES:
        return Reply(text="bad request", status=400)
    return Reply(text=REPLIES[question])


async def test_accuracy_counts_errors_apart(tmp_path: Path) -> None:
    items = read_vqa_file(vqa_file(tmp_path))
    with OpenAIServer(vqa_script) as server:
        backend = create_backend(BackendConfig(model="openai/vqa", base_url=server.base_url))
        result = await vqa_accuracy(backend, items, policy=RetryPolicy(max_attempts=1))
        await backend.aclose()
        sent = server.requests[0]
    assert (result.correct, result.scored, result.errors) == (2, 3, 1)
    assert result.accuracy == pytest.approx(2 / 3)
    parts = sent["messages"][0]["content"]
    assert parts[0]["type"] == "image_url" and sent["temperature"] == 0.0


def test_bad_vqa_file(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    path.write_text('{"image": "missing.png", "question": "q", "answer": "a"}\n')
    with pytest.raises(AlignError, match="line 1: field 'image': no such file"):
        read_vqa_file(path)
    path.write_text('{"image": "missing.png", "question": "q", "answer": 3}\n')
    with pytest.raises(AlignError, match="line 1: field 'answer'"):
        read_vqa_file(path)
