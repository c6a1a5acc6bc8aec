from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from crosseval.align.errors import AlignError
from crosseval.align.vqa_check import exact_match, normalize_answer, read_vqa_file, vqa_accuracy
from crosseval.data.images import ImageOptions
from crosseval.engine.retry import RetryPolicy
from crosseval.models.registry import BackendConfig, create_backend
from tests.align.test_images import write_exif_rotated_jpeg
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


async def test_the_image_sent_is_prepared_like_a_benchmark_image(tmp_path: Path) -> None:
    write_exif_rotated_jpeg(tmp_path / "rotated.jpg", size=(300, 100))
    path = tmp_path / "vqa.jsonl"
    path.write_text(json.dumps({"image": "rotated.jpg", "question": "Is it round?", "answer": "no"}) + "\n")
    with OpenAIServer(vqa_script) as server:
        backend = create_backend(BackendConfig(model="openai/vqa", base_url=server.base_url))
        await vqa_accuracy(backend, read_vqa_file(path), image_options=ImageOptions(max_side=150))
        await backend.aclose()
        (sent,) = server.requests
    url = sent["messages"][0]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    sent_image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent_image.size == (50, 150)  # turned upright by its EXIF tag, then capped at 150 px


async def test_an_unusable_image_fails_before_any_request(tmp_path: Path) -> None:
    (tmp_path / "fake.png").write_text("not a picture")
    path = tmp_path / "vqa.jsonl"
    path.write_text(json.dumps({"image": "fake.png", "question": "Is it round?", "answer": "no"}) + "\n")
    with OpenAIServer(vqa_script) as server:
        backend = create_backend(BackendConfig(model="openai/vqa", base_url=server.base_url))
        with pytest.raises(AlignError, match=r"fake\.png: image not an image"):
            await vqa_accuracy(backend, read_vqa_file(path))
        await backend.aclose()
        assert server.requests == []


def test_bad_vqa_file(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    path.write_text('{"image": "missing.png", "question": "q", "answer": "a"}\n')
    with pytest.raises(AlignError, match="line 1: field 'image': no such file"):
        read_vqa_file(path)
    path.write_text('{"image": "missing.png", "question": "q", "answer": 3}\n')
    with pytest.raises(AlignError, match="line 1: field 'answer'"):
        read_vqa_file(path)
