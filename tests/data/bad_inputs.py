"""Data files and images that once gave a traceback (or passed unnoticed), for the loader and CLI tests.

`write_bad_inputs(root)` writes each case next to a good image, `imgs/ok.png`; every data file holds
one CASA record that would be valid but for the case's defect. A case's `problem` is text its error
message must contain.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

BAD_INPUT_NAMES: tuple[str, ...] = (
    "surrogate.json",
    "surrogate_key.jsonl",
    "deep.json",
    "deep_line.jsonl",
    "deep_record.json",
    "latin1.json",
    "folder.json",
    "loop.json",
    "dangling.json",
    "fifo.json",
    "huge.json",
    "not_utf8_name",
    "image_loop.json",
    "image_bomb.json",
)
"""The cases `write_bad_inputs` writes, in order (test ids are known before the files exist)."""
DEEP = 200_000
"""Nesting that no JSON parser in the standard library survives."""


@dataclass(frozen=True)
class BadInput:
    path: Path
    problem: str
    image_only: bool = False
    """The data file is fine, its image is not: commands that send store an image error, not a crash."""


def record(**changes: Any) -> dict[str, Any]:
    return {"index": "Japan_1", "file_name": "ok.png", "query": "q?", "violated_norm": "n", **changes}


def bomb_png(side: int = 10_000) -> bytes:
    """A valid 1-bit PNG of `side` x `side` pixels: a few KiB that decode to more than Pillow's pixel cap."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = (b"\x00" + b"\x00" * ((side + 7) // 8)) * side
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def write_bad_inputs(root: Path) -> dict[str, BadInput]:
    root.mkdir(parents=True, exist_ok=True)
    images = root / "imgs"
    images.mkdir(exist_ok=True)
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, format="PNG")
    (images / "ok.png").write_bytes(png.getvalue())
    cases: dict[str, BadInput] = {}

    def add(name: str, content: str | bytes, problem: str) -> None:
        path = root / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        cases[name] = BadInput(path, problem)

    good = json.dumps(record())
    add("surrogate.json", json.dumps([record(query="bad \ud800 here")]), "'query': has a lone surrogate")
    add(
        "surrogate_key.jsonl",
        json.dumps(record(**{"x\udc00": 1})) + "\n",
        "the field name has a lone surrogate",
    )
    add("deep.json", "[" * DEEP + "]" * DEEP, "nested too deeply")
    add("deep_line.jsonl", f"{good}\n" + "[" * DEEP + "]" * DEEP + "\n", ":2: nested too deeply")
    nested: Any = []
    for _ in range(300):
        nested = [nested]
    add("deep_record.json", json.dumps([record(extra=nested)]), "field 'extra': nested deeper than 64 levels")
    add(
        "latin1.json",
        json.dumps([record(query="caf\u00e9")], ensure_ascii=False).encode("latin-1"),
        "not UTF-8",
    )
    (root / "folder.json").mkdir()
    cases["folder.json"] = BadInput(root / "folder.json", "a folder, not a data file")
    os.symlink("loop.json", root / "loop.json")
    cases["loop.json"] = BadInput(root / "loop.json", "a symbolic link loop")
    os.symlink("gone.json", root / "dangling.json")
    cases["dangling.json"] = BadInput(root / "dangling.json", "a broken symbolic link")
    os.mkfifo(root / "fifo.json")
    cases["fifo.json"] = BadInput(root / "fifo.json", "not a regular file")
    with (root / "huge.json").open("wb") as sparse:
        sparse.truncate(300 * 1024 * 1024)
    cases["huge.json"] = BadInput(root / "huge.json", "over the size cap")
    not_utf8_name = Path(os.fsdecode(bytes(root) + b"/name\xff.json"))
    not_utf8_name.write_text(good + "\n")
    cases["not_utf8_name"] = BadInput(not_utf8_name, "not UTF-8 text")

    os.symlink("loop.png", images / "loop.png")
    add("image_loop.json", json.dumps([record(file_name="loop.png")]), "a symbolic link loop")
    (images / "bomb.png").write_bytes(bomb_png())
    add("image_bomb.json", json.dumps([record(file_name="bomb.png")]), "over the pixel cap")
    for name in ("image_loop.json", "image_bomb.json"):
        cases[name] = BadInput(cases[name].path, cases[name].problem, image_only=True)
    assert tuple(cases) == BAD_INPUT_NAMES
    return cases
