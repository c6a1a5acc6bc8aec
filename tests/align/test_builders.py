from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from crosseval.align.builders import BuildOptions, build_cvqa_sft, build_upstream_import
from crosseval.align.dataset import read_examples
from crosseval.align.errors import AlignError
from crosseval.align.examples import SftExample
from crosseval.align.leakage import LeakageGuard
from crosseval.data.loaders import load_benchmark


@pytest.fixture
def guard(cross_sample: Path) -> LeakageGuard:
    return LeakageGuard.from_samples(load_benchmark([cross_sample]).samples)


def _png(path: Path, color: tuple[int, int, int]) -> Path:
    Image.new("RGB", (8, 8), color).save(path)
    return path


def test_upstream_cvqa_builds_with_urls_kept(cross_sample: Path, tmp_path: Path, guard: LeakageGuard) -> None:
    files = [
        cross_sample / "cvqa_sft" / "cvqa_sft_gpt4o.jsonl",
        cross_sample / "cvqa_sft" / "cvqa_sft_gpt4o_exclusive.jsonl",
    ]
    card = build_cvqa_sft(files, BuildOptions(tmp_path / "ds", guard, "crosseval align cvqa"))
    assert card.examples == 77
    assert card.counts["split"] == {"exclusive": 38, "overlapped": 39}
    assert card.leakage.removed == 0 and card.leakage.guard is not None
    assert card.images == {"files": 0, "remote_urls": 77}
    assert [s.records for s in card.sources] == [39, 38]
    _, examples = read_examples(tmp_path / "ds")
    first = examples[0]
    assert isinstance(first, SftExample)
    assert first.messages[0].image_count == 1
    assert first.messages[1].text == "(0)"
    assert first.images[0].startswith("https://")
    assert (tmp_path / "ds" / "README.md").read_text().count("cvqa_sft_gpt4o") == 2


def test_upstream_cvqa_split_filter(cross_sample: Path, tmp_path: Path) -> None:
    files = [
        cross_sample / "cvqa_sft" / "cvqa_sft_gpt4o.jsonl",
        cross_sample / "cvqa_sft" / "cvqa_sft_gpt4o_exclusive.jsonl",
    ]
    card = build_cvqa_sft(files, BuildOptions(tmp_path / "ds", None, "x"), split="exclusive")
    assert card.examples == 38
    assert card.leakage.guard is None
    assert "Not checked" in (tmp_path / "ds" / "README.md").read_text()


def test_local_cvqa_split_images_and_leakage(tmp_path: Path, guard: LeakageGuard, cross_sample: Path) -> None:
    red = _png(tmp_path / "red.png", (255, 0, 0))
    _png(tmp_path / "blue.png", (0, 0, 255))
    leaked_query = load_benchmark([cross_sample]).samples[0].english_query
    records = [
        {
            "question": "Which dish is this?",
            "options": ["a", "b"],
            "answer": 0,
            "image": "red.png",
            "country": "Japan",
        },
        {
            "question": "Which festival is this?",
            "options": ["a", "b"],
            "answer": 1,
            "image": "blue.png",
            "country": "Kenya",
        },
        {
            "question": "Same red image again?",
            "options": ["a", "b"],
            "answer": 1,
            "image": str(red),
            "country": "Peru",
        },
        {
            "question": leaked_query,
            "options": ["a", "b"],
            "answer": 0,
            "image": "red.png",
            "country": "Japan",
        },
    ]
    path = tmp_path / "cvqa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    card = build_cvqa_sft([path], BuildOptions(tmp_path / "ds", guard, "x"))
    assert card.examples == 3
    assert card.counts == {
        "split": {"exclusive": 2, "overlapped": 1},
        "country": {"Japan": 1, "Kenya": 1, "Peru": 1},
    }
    assert card.images == {"files": 2, "remote_urls": 0}
    assert card.leakage.removed == 1
    assert card.leakage.items[0]["id"] == "cvqa/cvqa/4"
    assert card.leakage.items[0]["match"] == "exact"
    _, examples = read_examples(tmp_path / "ds")
    assert all((tmp_path / "ds" / e.images[0]).is_file() for e in examples)


def test_images_root_resolves_urls(cross_sample: Path, tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    _png(root / "5865687724279174757_0.jpg", (1, 2, 3))
    card = build_cvqa_sft(
        [cross_sample / "cvqa_sft" / "cvqa_sft_gpt4o.jsonl"],
        BuildOptions(tmp_path / "ds", None, "x"),
        images_root=root,
    )
    assert card.images == {"files": 1, "remote_urls": 38}


def test_upstream_safety_import(cross_sample: Path, tmp_path: Path, guard: LeakageGuard) -> None:
    card = build_upstream_import(
        [cross_sample / "safety_sft" / "safety_sft_gpt4o_exclusive.jsonl"],
        BuildOptions(tmp_path / "ds", guard, "x"),
    )
    assert card.examples == 7 and card.kind == "sft"
    _, examples = read_examples(tmp_path / "ds")
    assert all(e.images == [] for e in examples)
    assert all(m.image_count == 0 for e in examples for m in e.messages)  # type: ignore[union-attr]


def test_import_rejects_a_cvqa_file(cross_sample: Path, tmp_path: Path) -> None:
    with pytest.raises(AlignError, match="align cvqa"):
        build_upstream_import(
            [cross_sample / "cvqa_sft" / "cvqa_sft_gpt4o.jsonl"], BuildOptions(tmp_path / "ds", None, "x")
        )
    assert not (tmp_path / "ds").exists()


def test_fully_leaked_input_leaves_no_folder(tmp_path: Path, guard: LeakageGuard, cross_sample: Path) -> None:
    sample = load_benchmark([cross_sample]).samples[0]
    line = {
        "messages": [
            {"role": "user", "content": sample.english_query},
            {"role": "assistant", "content": "ok"},
        ]
    }
    path = tmp_path / "safety_sft.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    with pytest.raises(AlignError, match="overlap the CROSS evaluation set"):
        build_upstream_import([path], BuildOptions(tmp_path / "ds", guard, "x"))
    assert list(tmp_path.iterdir()) == [path]


def test_existing_output_needs_overwrite(cross_sample: Path, tmp_path: Path) -> None:
    source = [cross_sample / "safety_sft" / "safety_sft_gpt4o_exclusive.jsonl"]
    build_upstream_import(source, BuildOptions(tmp_path / "ds", None, "x"))
    with pytest.raises(AlignError, match="already exists"):
        build_upstream_import(source, BuildOptions(tmp_path / "ds", None, "x"))
    card = build_upstream_import(source, BuildOptions(tmp_path / "ds", None, "again", overwrite=True))
    assert card.command == "again"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    shutil.rmtree(tmp_path / "ds")
