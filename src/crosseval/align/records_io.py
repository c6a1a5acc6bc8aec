"""Reading user and upstream record files (JSONL, a JSON array, or CSV) with errors that name the place."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crosseval.align.errors import AlignError
from crosseval.data.upstream import sha256_file as file_sha256

__all__ = ["file_sha256", "iter_records", "optional_text", "required_text"]


def iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields `(line, record)` for each object in a JSONL file, a JSON array or a CSV file.

    `line` is the 1-based line of a JSONL record, the 1-based position of a JSON array element, or the
    1-based line of a CSV row (the header is line 1).
    """
    if not path.is_file():
        raise AlignError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield from _iter_csv(path)
        return
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise AlignError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AlignError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        for position, record in enumerate(data, start=1):
            if not isinstance(record, dict):
                raise AlignError(
                    f"{path}: record {position}: expected a JSON object, got {type(record).__name__}"
                )
            yield position, record
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AlignError(f"{path}: line {number}: invalid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise AlignError(f"{path}: line {number}: expected a JSON object, got {type(record).__name__}")
        yield number, record


def _iter_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            yield reader.line_num, {key.strip(): value for key, value in row.items() if key is not None}


def required_text(path: Path, line: int, record: dict[str, Any], field: str) -> str:
    """The non-empty string value of `field`, or an error naming file, line and field."""
    value = record.get(field)
    if value is None:
        raise AlignError(f"{path}: line {line}: missing field '{field}'")
    if not isinstance(value, str):
        raise AlignError(f"{path}: line {line}: field '{field}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise AlignError(f"{path}: line {line}: field '{field}' is empty")
    return value


def optional_text(path: Path, line: int, record: dict[str, Any], field: str) -> str | None:
    value = record.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise AlignError(f"{path}: line {line}: field '{field}' must be a string, got {type(value).__name__}")
    return value
