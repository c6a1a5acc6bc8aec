from __future__ import annotations

from pathlib import Path

import pytest

from crosseval.align.dataset import DatasetCard, DatasetWriter, read_card, read_examples
from crosseval.align.errors import AlignError
from crosseval.align.examples import SftExample, assistant_message, user_message


def _card() -> DatasetCard:
    return DatasetCard(
        kind="sft", builder="test", created_at="t", command="c", crosseval_version="0", sources=[], examples=0
    )


def test_writer_is_atomic_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), DatasetWriter(tmp_path / "ds") as writer:
        writer.add_image_bytes(b"abc", ".png")
        writer.add(SftExample(id="a", messages=[user_message("q"), assistant_message("a")]))
        raise RuntimeError("crash in the middle")
    assert list(tmp_path.iterdir()) == []


def test_finish_writes_card_last_and_round_trips(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "ds") as writer:
        relative, sha = writer.add_image_bytes(b"abc", ".png")
        again, _ = writer.add_image_bytes(b"abc", ".png")
        assert relative == again == f"images/{sha}.png"
        writer.add(
            SftExample(
                id="a", messages=[user_message("q", images=1), assistant_message("a")], images=[relative]
            )
        )
        writer.finish(_card())
    card, examples = read_examples(tmp_path / "ds")
    assert card.examples == 1 and len(card.train_sha256) == 64
    assert examples[0].images == [relative]
    assert read_card(tmp_path / "ds").images == {"files": 1, "remote_urls": 0}


def test_empty_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AlignError, match="no examples"), DatasetWriter(tmp_path / "ds") as writer:
        writer.finish(_card())
    assert not (tmp_path / "ds").exists()


def test_incomplete_folder_is_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "train.jsonl").write_text("{}\n")
    with pytest.raises(AlignError, match="not a complete dataset folder"):
        read_examples(tmp_path / "ds")


def test_bad_line_is_reported(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "ds") as writer:
        writer.add(SftExample(id="a", messages=[user_message("q"), assistant_message("a")]))
        writer.finish(_card())
    (tmp_path / "ds" / "train.jsonl").write_text(
        '{"id": "a", "messages": [{"role": "robot", "content": []}]}\n'
    )
    with pytest.raises(AlignError, match=r"line 1: field 'messages\.0\.role'"):
        read_examples(tmp_path / "ds")
