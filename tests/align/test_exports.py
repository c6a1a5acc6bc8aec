from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from crosseval.align.dataset import DatasetCard, DatasetWriter
from crosseval.align.errors import AlignError
from crosseval.align.examples import DpoExample, Example, SftExample, assistant_message, user_message
from crosseval.align.exports import export, load_trl_dataset


def _card(kind: str) -> DatasetCard:
    return DatasetCard(
        kind=kind, builder="t", created_at="t", command="c", crosseval_version="0", sources=[], examples=0
    )


def _write_dataset(out: Path, kind: str, examples: Callable[[str], list[Example]]) -> Path:
    """A dataset folder of `kind` holding one small PNG; `examples` get its path inside the folder."""
    image = io.BytesIO()
    Image.new("RGB", (4, 4), (9, 9, 9)).save(image, format="PNG")
    with DatasetWriter(out) as writer:
        relative, _ = writer.add_image_bytes(image.getvalue(), ".png")
        for example in examples(relative):
            writer.add(example)
        writer.finish(_card(kind))
    return out


@pytest.fixture
def sft_dir(tmp_path: Path) -> Path:
    return _write_dataset(
        tmp_path / "sft",
        "sft",
        lambda image: [
            SftExample(
                id="a",
                messages=[user_message("What is it?", images=1), assistant_message("(1)")],
                images=[image],
            ),
            SftExample(
                id="b",
                messages=[user_message("Why?", images=1), assistant_message("Because.")],
                images=[image],
            ),
        ],
    )


@pytest.fixture
def dpo_dir(tmp_path: Path) -> Path:
    return _write_dataset(
        tmp_path / "dpo",
        "dpo",
        lambda image: [
            DpoExample(
                id="p",
                prompt=[user_message("Gift?", images=1)],
                chosen=[assistant_message("Not a clock.")],
                rejected=[assistant_message("A clock.")],
                images=[image],
            )
        ],
    )


def test_openai_sft_shape(sft_dir: Path) -> None:
    summary = export(sft_dir, "openai")
    lines = [json.loads(line) for line in summary.path.read_text().splitlines()]
    assert summary.rows == 2 and len(lines) == 2
    user, assistant = lines[0]["messages"]
    assert assistant == {"role": "assistant", "content": "(1)"}
    assert [p["type"] for p in user["content"]] == ["image_url", "text"]
    url = user["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]).startswith(b"\x89PNG")
    assert user["content"][1] == {"type": "text", "text": "What is it?"}


def test_openai_dpo_shape_is_text_only(dpo_dir: Path) -> None:
    summary = export(dpo_dir, "openai", dpo_dir.parent / "out" / "dpo.jsonl")
    assert summary.images_dropped == 1
    line = json.loads(summary.path.read_text())
    assert line == {
        "input": {"messages": [{"role": "user", "content": "Gift?"}]},
        "preferred_output": [{"role": "assistant", "content": "Not a clock."}],
        "non_preferred_output": [{"role": "assistant", "content": "A clock."}],
    }


def test_trl_sft_and_dpo_shapes(sft_dir: Path, dpo_dir: Path) -> None:
    sft = load_trl_dataset(sft_dir)
    assert sft.column_names == ["messages", "images"]
    row = sft[0]
    assert row["messages"][0]["content"][0]["type"] == "image"
    assert row["messages"][0]["content"][1]["text"] == "What is it?"
    assert row["images"][0].size == (4, 4)
    dpo = load_trl_dataset(dpo_dir)
    assert dpo.column_names == ["prompt", "chosen", "rejected", "images"]
    assert dpo[0]["chosen"][0]["content"][0]["text"] == "Not a clock."


def test_trl_export_round_trips_with_load_from_disk(sft_dir: Path) -> None:
    from datasets import load_from_disk

    summary = export(sft_dir, "trl")
    reloaded = load_from_disk(str(summary.path))
    assert len(reloaded) == 2 and reloaded[1]["images"][0].size == (4, 4)


def test_text_only_dataset_has_no_images_column(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "t") as writer:
        writer.add(SftExample(id="a", messages=[user_message("q"), assistant_message("a")]))
        writer.finish(_card("sft"))
    assert load_trl_dataset(tmp_path / "t").column_names == ["messages"]


def test_trl_refuses_remote_images(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "r") as writer:
        writer.add(
            SftExample(
                id="a",
                messages=[user_message("q", images=1), assistant_message("a")],
                images=["https://x/y.jpg"],
            )
        )
        writer.finish(_card("sft"))
    with pytest.raises(AlignError, match="--images-root"):
        load_trl_dataset(tmp_path / "r")
    line = json.loads(export(tmp_path / "r", "openai").path.read_text())
    assert line["messages"][0]["content"][0] == {"type": "image_url", "image_url": {"url": "https://x/y.jpg"}}
