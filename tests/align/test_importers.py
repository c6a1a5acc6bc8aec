from __future__ import annotations

import json
from pathlib import Path

import pytest

from crosseval.align.errors import AlignError
from crosseval.align.importers import (
    detect_upstream_kind,
    format_mcq_prompt,
    normalize_country,
    read_cvqa_file,
    read_upstream_cvqa,
    read_upstream_safety,
    split_of,
    upstream_split,
)


def test_upstream_cvqa_files_parse_every_line(cross_sample: Path) -> None:
    overlapped = read_upstream_cvqa(cross_sample / "cvqa_sft" / "cvqa_sft_gpt4o.jsonl")
    exclusive = read_upstream_cvqa(cross_sample / "cvqa_sft" / "cvqa_sft_gpt4o_exclusive.jsonl")
    assert len(overlapped) == 39
    assert len(exclusive) == 38
    first = overlapped[0]
    assert first.question == "Which god's statue is shown on the left?"
    assert first.options == ("Ganesh", "Saraswati", "Lakshmi", "Kartik")
    assert first.answer == 0
    assert first.image.endswith("/images/cvqa/5865687724279174757_0.jpg")
    assert first.country is None


def test_upstream_cvqa_prompt_round_trips_exactly(cross_sample: Path) -> None:
    path = cross_sample / "cvqa_sft" / "cvqa_sft_gpt4o_exclusive.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    for item, line in zip(read_upstream_cvqa(path), lines, strict=True):
        upstream = json.loads(line)["messages"]
        assert item.prompt == upstream[0]["content"]
        assert item.target == upstream[2]["content"]


def test_cyrillic_option_is_kept(cross_sample: Path) -> None:
    items = read_upstream_cvqa(cross_sample / "cvqa_sft" / "cvqa_sft_gpt4o_exclusive.jsonl")
    treasure = next(i for i in items if any("treasur" in o for o in i.options))
    assert treasure.options[1] == "Panagyurishte golden treasur\u0435"
    assert all(option.endswith("\u0435") for option in treasure.options)


def test_upstream_safety_has_no_images(cross_sample: Path) -> None:
    path = cross_sample / "safety_sft" / "safety_sft_gpt4o_exclusive.jsonl"
    pairs = read_upstream_safety(path)
    assert len(pairs) == 7
    assert pairs[0].prompt.startswith("Standing before the gleaming house")
    assert "\n\n" in pairs[0].answer
    assert detect_upstream_kind(path) == "safety"
    assert detect_upstream_kind(cross_sample / "cvqa_sft" / "cvqa_sft_gpt4o.jsonl") == "cvqa"


def test_upstream_split_comes_from_the_file_name() -> None:
    assert upstream_split(Path("cvqa_sft_gpt4o_exclusive.jsonl")) == "exclusive"
    assert upstream_split(Path("cvqa_sft_gpt4o.jsonl")) == "overlapped"


def test_country_split() -> None:
    assert normalize_country("Saudi_Arabia") == "Saudi Arabia"
    assert normalize_country("  japan ") == "Japan"
    assert split_of("Saudi_Arabia") == "overlapped"
    assert split_of("Bulgaria") == "exclusive"
    assert split_of("Kenya") == "exclusive"


def test_format_mcq_prompt_uses_two_space_separators() -> None:
    assert format_mcq_prompt("Q?", ("a", "b")) == "Question: Q?\nOptions: (0) a  (1) b\nAnswer:"


def _write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_local_cvqa_file(tmp_path: Path) -> None:
    (tmp_path / "img.png").write_bytes(b"x")
    path = _write(
        tmp_path / "cvqa.jsonl",
        [
            {
                "question": "Q1?",
                "options": ["a", "b"],
                "answer": 1,
                "image": "img.png",
                "country": "Saudi_Arabia",
            },
            {
                "question": "Q2?",
                "options": ["a", "b"],
                "answer": "a",
                "image_url": "https://x/y.jpg",
                "country": "Peru",
            },
        ],
    )
    items = read_cvqa_file(path)
    assert [(i.answer, i.country) for i in items] == [(1, "Saudi Arabia"), (0, "Peru")]
    assert items[0].image == str(tmp_path / "img.png")
    assert items[1].image == "https://x/y.jpg"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {"options": ["a", "b"], "answer": 0, "image": "i.png", "country": "Peru"},
            "line 1: missing field 'question'",
        ),
        (
            {"question": "Q", "options": ["a"], "answer": 0, "image": "i.png", "country": "Peru"},
            "field 'options'",
        ),
        (
            {"question": "Q", "options": ["a", "b"], "answer": 5, "image": "i.png", "country": "Peru"},
            "field 'answer' (5)",
        ),
        ({"question": "Q", "options": ["a", "b"], "answer": 0, "country": "Peru"}, "missing field 'image'"),
        ({"question": "Q", "options": ["a", "b"], "answer": 0, "image": "i.png"}, "missing field 'country'"),
    ],
)
def test_local_cvqa_errors_name_file_line_and_field(
    tmp_path: Path, record: dict[str, object], message: str
) -> None:
    path = _write(tmp_path / "bad.jsonl", [record])
    with pytest.raises(AlignError) as info:
        read_cvqa_file(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_malformed_upstream_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cvqa_sft.jsonl"
    path.write_text(
        '{"messages": [{"role": "user", "content": "no options"}]}\n{not json\n', encoding="utf-8"
    )
    with pytest.raises(AlignError, match="line 1: field 'messages'"):
        read_upstream_cvqa(path)
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(AlignError, match="line 1: invalid JSON"):
        read_upstream_cvqa(path)
