"""Dataset folders: `train.jsonl`, `images/`, `card.json` and a `README.md` card, written atomically.

A builder writes into a hidden temporary folder beside the target and renames it into place only
when everything is written, so a crash or a failed build never leaves a folder that looks complete.
A folder is complete exactly when it holds `card.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from crosseval.align.errors import AlignError
from crosseval.align.examples import DpoExample, Example, ExampleKind, SftExample, is_remote

TRAIN_FILE = "train.jsonl"
CARD_FILE = "card.json"
README_FILE = "README.md"
IMAGES_DIR = "images"
FORMAT_VERSION = 1


class SourceFile(BaseModel):
    path: str
    sha256: str
    records: int


class LeakageReport(BaseModel):
    guard: dict[str, Any] | None = None
    """What the guard compared against; None when no evaluation set was given (the card says so)."""
    removed: int = 0
    items: list[dict[str, Any]] = Field(default_factory=list)
    """One entry per removed item: its id plus the hit (field, match, cross_id, similarity)."""


class RejectionReport(BaseModel):
    total: int = 0
    by_reason: dict[str, int] = Field(default_factory=dict)
    items: list[dict[str, str]] = Field(default_factory=list)


class DatasetCard(BaseModel):
    """What a dataset holds, where it came from and what was left out: the card travels with the data."""

    format_version: int = FORMAT_VERSION
    kind: ExampleKind
    builder: str
    created_at: str
    command: str
    crosseval_version: str
    sources: list[SourceFile]
    examples: int
    train_sha256: str = ""
    counts: dict[str, dict[str, int]] = Field(default_factory=dict)
    images: dict[str, int] = Field(default_factory=dict)
    leakage: LeakageReport = Field(default_factory=LeakageReport)
    rejected: RejectionReport = Field(default_factory=RejectionReport)
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)


def count_by(values: list[str | None]) -> dict[str, int]:
    return dict(sorted(Counter(v if v is not None else "unknown" for v in values).items()))


class DatasetWriter:
    """Collects examples and images in a temporary folder; `finish(card)` moves it to `out_dir`.

    Use as a context manager: leaving the block without `finish` (an error) removes the temporary folder.
    """

    def __init__(self, out_dir: Path, *, overwrite: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.overwrite = overwrite
        if self.out_dir.exists() and not overwrite:
            raise AlignError(f"{self.out_dir}: already exists (pass --overwrite to replace it)")
        self._tmp = self.out_dir.parent / f".{self.out_dir.name}.partial-{uuid.uuid4().hex[:8]}"
        self._examples: list[Example] = []
        self._images: dict[str, str] = {}
        self._finished = False

    def __enter__(self) -> DatasetWriter:
        (self._tmp / IMAGES_DIR).mkdir(parents=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._finished:
            shutil.rmtree(self._tmp, ignore_errors=True)

    @property
    def examples(self) -> list[Example]:
        return list(self._examples)

    def add_image_bytes(self, data: bytes, suffix: str) -> tuple[str, str]:
        sha256 = hashlib.sha256(data).hexdigest()
        if sha256 not in self._images:
            relative = f"{IMAGES_DIR}/{sha256}{suffix}"
            (self._tmp / relative).write_bytes(data)
            self._images[sha256] = relative
        return self._images[sha256], sha256

    def add(self, example: Example) -> None:
        self._examples.append(example)

    def finish(self, card: DatasetCard) -> Path:
        """Writes train.jsonl, card.json and README.md, then renames the folder into place."""
        if not self._examples:
            raise AlignError(f"{self.out_dir}: no examples to write")
        lines = [example.model_dump_json() + "\n" for example in self._examples]
        body = "".join(lines).encode("utf-8")
        (self._tmp / TRAIN_FILE).write_bytes(body)
        remote = sum(1 for e in self._examples for i in e.images if is_remote(i))
        card = card.model_copy(
            update={
                "examples": len(self._examples),
                "train_sha256": hashlib.sha256(body).hexdigest(),
                "images": {"files": len(self._images), "remote_urls": remote},
            }
        )
        (self._tmp / README_FILE).write_text(render_card(card), encoding="utf-8")
        (self._tmp / CARD_FILE).write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")
        if self.out_dir.exists():
            trash = self.out_dir.parent / f".{self.out_dir.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(self.out_dir, trash)
            os.replace(self._tmp, self.out_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(self._tmp, self.out_dir)
        self._finished = True
        return self.out_dir


def render_card(card: DatasetCard) -> str:
    """The human-readable card (README.md) of a dataset folder."""
    out = [
        f"# crosseval {card.kind.upper()} dataset ({card.builder})",
        "",
        f"- examples: **{card.examples}**",
        f"- created: {card.created_at} with crosseval {card.crosseval_version}",
        f"- command: `{card.command}`",
        f"- train.jsonl sha256: `{card.train_sha256}`",
        f"- images: {card.images.get('files', 0)} files, {card.images.get('remote_urls', 0)} remote URLs",
        "",
        "## Sources",
        "",
        "| file | sha256 | records |",
        "|---|---|---|",
        *(f"| {s.path} | `{s.sha256}` | {s.records} |" for s in card.sources),
    ]
    for name, counts in card.counts.items():
        out += ["", f"## By {name}", "", "| value | examples |", "|---|---|"]
        out += [f"| {key} | {value} |" for key, value in counts.items()]
    out += ["", "## Leakage guard", ""]
    if card.leakage.guard is None:
        out.append("**Not checked**: no CROSS evaluation set was given.")
    else:
        guard = card.leakage.guard
        out.append(
            f"Compared with {guard.get('cross_items', 0)} CROSS items ({guard.get('cross_texts', 0)} texts, "
            f"{guard.get('cross_image_sha256', 0)} image hashes, {guard.get('cross_image_urls', 0)} image URLs). "
            f"Removed **{card.leakage.removed}** items."
        )
        if card.leakage.items:
            out += ["", "| item | field | match | CROSS item | similarity |", "|---|---|---|---|---|"]
            out += [
                f"| {i['id']} | {i['field']} | {i['match']} | {i['cross_id']} | {i['similarity']} |"
                for i in card.leakage.items
            ]
    out += ["", "## Rejected", "", f"Rejected **{card.rejected.total}** candidates."]
    if card.rejected.by_reason:
        out += ["", "| reason | count |", "|---|---|"]
        out += [f"| {reason} | {count} |" for reason, count in card.rejected.by_reason.items()]
    if card.models:
        out += ["", "## Models", ""]
        out += [
            f"- {role}: `{json.dumps(identity, sort_keys=True)}`" for role, identity in card.models.items()
        ]
    if card.settings:
        out += ["", "## Settings", "", "```json", json.dumps(card.settings, indent=2, sort_keys=True), "```"]
    return "\n".join(out) + "\n"


def read_card(folder: Path) -> DatasetCard:
    path = Path(folder) / CARD_FILE
    if not path.is_file():
        raise AlignError(f"{folder}: not a complete dataset folder (no {CARD_FILE})")
    try:
        return DatasetCard.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise AlignError(f"{path}: invalid card: {exc.errors()[0]['msg']}") from exc


def read_examples(folder: Path) -> tuple[DatasetCard, list[Example]]:
    """The card and every example of a complete dataset folder, validated."""
    card = read_card(folder)
    path = Path(folder) / TRAIN_FILE
    if not path.is_file():
        raise AlignError(f"{folder}: missing {TRAIN_FILE}")
    model: type[SftExample] | type[DpoExample] = SftExample if card.kind == "sft" else DpoExample
    examples: list[Example] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            examples.append(model.model_validate_json(line))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise AlignError(f"{path}: line {number}: field '{where}': {error['msg']}") from exc
    return card, examples
