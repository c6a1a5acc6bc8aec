"""Reading user and upstream record files (JSONL, a JSON array, or CSV) with errors that name the place."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crosseval.align.errors import AlignError
from crosseval.data.errors import DataError, printable
from crosseval.data.json_files import json_type_name, read_records_file
from crosseval.data.upstream import sha256_file as file_sha256

__all__ = ["file_sha256", "iter_records", "optional_text", "required_text"]


def iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields `(line, record)` for each object in a JSONL file, a JSON array or a CSV file.

    `line` is the 1-based line of a JSONL record, the 1-based position of a JSON array element, or the
    1-based line of a CSV row (the header is line 1). JSON files follow the data layer's rules
    (`crosseval.data.json_files`): size cap, UTF-8, depth, no lone surrogates.
    """
    try:
        records_file = read_records_file(path)
        if path.suffix.lower() == ".csv":
            yield from _iter_csv(path, records_file.text)
            return
        for record in records_file.records():
            line = record.line or record.position + 1
            if record.defect is not None:
                field = f"field '{printable(record.defect.field)}': " if record.defect.field else ""
                raise AlignError(f"{path}: line {line}: {field}{record.defect.problem}")
            if not isinstance(record.value, dict):
                raise AlignError(
                    f"{path}: line {line}: expected a JSON object, found {json_type_name(record.value)}"
                )
            yield line, record.value
    except DataError as error:
        where = f"line {error.line}: " if error.line is not None else ""
        raise AlignError(f"{error.file}: {where}{error.problem}") from None


def _iter_csv(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            yield reader.line_num, {key.strip(): value for key, value in row.items() if key is not None}
    except csv.Error as error:
        raise AlignError(f"{path}: line {reader.line_num}: not a readable CSV file ({error})") from None


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
