"""The one reader of JSON and JSONL record files: benchmark data, alignment inputs, override files.

The rules, the same for every caller:
- The file is read as `files.read_file_bytes` reads it (a regular file under a size cap), and must be
  UTF-8 (a byte-order mark is allowed); otherwise the error names the line and byte.
- Content decides the layout, not the suffix: a file whose first non-blank character is `[` is one JSON
  array of records; anything else is JSONL, one record per non-blank line. JSONL lines are parsed as
  the records are taken, so an error on a late line comes after the records before it.
- Malformed JSON names its line and column. Nesting past the parser's recursion limit (a file nested
  200,000 deep) is an error naming the file, or the line for JSONL, instead of a `RecursionError`.
- Each record is checked (`value_defect`) for what JSON allows but nothing downstream can take: a
  string or field name with a lone surrogate (`"\\ud800"` without its pair is not Unicode text: it
  cannot be encoded to UTF-8, so it could be neither hashed into a request key, nor stored, nor sent),
  and nesting deeper than `MAX_RECORD_DEPTH` (the store's serializer stops at a few hundred levels).
  A record with a defect is still returned, with the defect, so a validator can report every one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crosseval.data.errors import DataError
from crosseval.data.files import read_file_bytes

MAX_RECORDS_FILE_BYTES = 256 * 1024 * 1024
"""The size cap of a records file: more is split into several files (every command takes several)."""
MAX_RECORD_DEPTH = 64
"""How deep a record may nest (the record itself is level 1); CROSS records are flat (level 1 or 2)."""

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
LONE_SURROGATE_PROBLEM = (
    "has a lone surrogate (a \\ud800-\\udfff escape without its pair), which is not Unicode text: "
    "fix or remove that escape"
)


@dataclass(frozen=True)
class ValueDefect:
    """Why a parsed JSON value cannot be used, and where inside it."""

    field: str | None
    """The path to the bad part (`query`, `meta.tags[2]`); None when it is the value itself."""
    problem: str


@dataclass(frozen=True)
class JsonRecord:
    """One record of a records file, where it is, and what is wrong with it if anything."""

    value: Any
    position: int
    """0-based position among the file's records."""
    line: int | None
    """1-based line of a JSONL record; None in a JSON array."""
    defect: ValueDefect | None


def has_lone_surrogate(text: str) -> bool:
    """Whether `text` holds a lone surrogate: from a JSON escape, or a file name that is not UTF-8."""
    return _LONE_SURROGATE.search(text) is not None


def json_type_name(value: Any) -> str:
    """`an object`, `an array`, `a string`, ...: how a message names the type of a parsed JSON value."""
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _child_path(parent: str | None, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent or ''}[{key}]"
    return key if parent is None else f"{parent}.{key}"


def value_defect(value: Any, max_depth: int = MAX_RECORD_DEPTH) -> ValueDefect | None:
    """The first lone surrogate (in a string or a field name) or nesting past `max_depth` in `value`.

    A surrogate is placed by its full path (`meta.tags[2]`), too deep a nesting by its top-level field.
    Walks without recursion, so a value of any depth is checked in bounded stack.
    """
    pending: list[tuple[Any, str | None, str | None, int]] = [(value, None, None, 1)]
    while pending:
        item, where, top, depth = pending.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                return ValueDefect(where, LONE_SURROGATE_PROBLEM)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            return ValueDefect(top, f"nested deeper than {max_depth} levels")
        children = list(item.items() if isinstance(item, dict) else enumerate(item))
        for key, child in reversed(children):
            path = _child_path(where, key)
            if isinstance(key, str) and has_lone_surrogate(key):
                return ValueDefect(path, f"the field name {LONE_SURROGATE_PROBLEM}")
            pending.append((child, path, top or path, depth + 1))
    return None


def decode_utf8(data: bytes, file: str) -> str:
    """`data` as text (a UTF-8 byte-order mark dropped); a `DataError` naming the line and byte if it is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(file, f"not UTF-8 text (byte {error.start}): {error.reason}", line=line) from None


def parse_json(text: str, file: str, *, line: int | None = None) -> Any:
    """One JSON document; a `DataError` naming the place when it is malformed or nested past the parser's limit.

    `line` is the document's line in its file (a JSONL record), used for both messages.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        at_line = error.lineno if line is None else line
        raise DataError(file, f"invalid JSON: {error.msg}", line=at_line, column=error.colno) from None
    except RecursionError:
        raise DataError(file, "nested too deeply for a JSON parser", line=line) from None


@dataclass(frozen=True)
class RecordsFile:
    """A records file read and decoded; `records()` parses it (see the module docstring for the rules)."""

    path: Path
    data: bytes
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def records(self) -> Iterator[JsonRecord]:
        """Each record in file order; raises `DataError` where the file cannot be parsed any further."""
        file = str(self.path)
        if self.text.lstrip().startswith("["):
            parsed = parse_json(self.text, file)
            for position, value in enumerate(parsed):
                yield JsonRecord(value, position, None, value_defect(value))
            return
        position = 0
        for number, line in enumerate(self.text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = parse_json(line, file, line=number)
            except DataError:
                if position == 0:
                    self._refuse_one_document()
                raise
            yield JsonRecord(value, position, number, value_defect(value))
            position += 1

    def _refuse_one_document(self) -> None:
        """A clear error for a file that is one JSON document over several lines but not an array."""
        try:
            whole = json.loads(self.text)
        except (json.JSONDecodeError, RecursionError):
            return
        raise DataError(
            str(self.path),
            "expected a JSON array of records or JSONL (one record per line), "
            f"found {json_type_name(whole)} over several lines",
        )


def read_records_file(path: Path, *, max_bytes: int = MAX_RECORDS_FILE_BYTES) -> RecordsFile:
    """Read and decode a JSON or JSONL records file; a `DataError` names the file and what is wrong."""
    data = read_file_bytes(path, max_bytes=max_bytes)
    return RecordsFile(path, data, decode_utf8(data, str(path)))
