from __future__ import annotations

from pathlib import Path

import pytest

from crosseval.align.errors import AlignError
from crosseval.align.norms import read_norms


def test_csv_norms(tmp_path: Path) -> None:
    (tmp_path / "pic.png").write_bytes(b"x")
    path = tmp_path / "norms.csv"
    path.write_text(
        "norm,country,item,scene,query,image\n"
        "Left hand is rude,Saudi_Arabia,dates,I offer dates with my left hand.,Which box?,pic.png\n"
        "Shoes off,Japan,shoes,I walk in with shoes.,,\n",
        encoding="utf-8",
    )
    records = read_norms(path)
    assert [r.country for r in records] == ["Saudi Arabia", "Japan"]
    assert records[0].user_prompt == "I offer dates with my left hand. Which box?"
    assert records[0].image == tmp_path / "pic.png"
    assert records[1].query is None and records[1].image is None
    assert records[1].id == "norms/3"


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ('{"norm": "n", "country": "c", "item": "i"}\n', ".jsonl", "line 1: missing field 'scene'"),
        (
            '{"norm": "n", "country": "c", "item": "i", "scene": "  "}\n',
            ".jsonl",
            "line 1: field 'scene' is empty",
        ),
        (
            '[{"norm": 3, "country": "c", "item": "i", "scene": "s"}]',
            ".json",
            "line 1: field 'norm' must be a string",
        ),
        ("norm,country,item,scene\nn,c,,s\n", ".csv", "line 2: field 'item' is empty"),
        (
            '{"norm": "n", "country": "c", "item": "i", "scene": "s", "image": "nope.png"}\n',
            ".jsonl",
            "field 'image': no such file",
        ),
        ("", ".jsonl", "holds no records"),
    ],
)
def test_bad_norms_name_line_and_field(tmp_path: Path, content: str, suffix: str, message: str) -> None:
    path = tmp_path / f"norms{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AlignError) as info:
        read_norms(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_repeated_ids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "norms.jsonl"
    row = '{"id": "a", "norm": "n", "country": "c", "item": "i", "scene": "s"}\n'
    path.write_text(row * 2, encoding="utf-8")
    with pytest.raises(AlignError, match="line 2: field 'id': 'a' repeats line 1"):
        read_norms(path)
