from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from crosseval.data.errors import DataError
from crosseval.data.files import file_problem, os_problem, read_file_bytes
from crosseval.data.json_files import (
    MAX_RECORD_DEPTH,
    JsonRecord,
    ValueDefect,
    parse_json,
    read_records_file,
    value_defect,
)
from tests.data.bad_inputs import DEEP


def _records(path: Path) -> list[JsonRecord]:
    return list(read_records_file(path).records())


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("name", ["records.json", "records.jsonl", "records.txt"])
def test_content_decides_the_layout_not_the_suffix(tmp_path: Path, name: str) -> None:
    array, lines = tmp_path / f"array-{name}", tmp_path / f"lines-{name}"
    array.write_text('\ufeff[\n  {"a": 1},\n  {"a": 2}\n]\n', encoding="utf-8")
    lines.write_text('{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    assert [(r.value, r.position, r.line) for r in _records(array)] == [
        ({"a": 1}, 0, None),
        ({"a": 2}, 1, None),
    ]
    assert [(r.value, r.position, r.line) for r in _records(lines)] == [({"a": 1}, 0, 1), ({"a": 2}, 1, 3)]


def test_jsonl_records_come_before_the_error_of_a_later_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    records = read_records_file(path).records()
    assert next(records).value == {"a": 1}
    with pytest.raises(DataError) as caught:
        next(records)
    assert (caught.value.line, caught.value.column) == (2, 7)
    assert caught.value.problem == "invalid JSON: Expecting value"


def test_an_empty_file_has_no_records(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n")
    assert _records(path) == []


def test_one_object_over_several_lines_is_refused_as_such(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text('{\n  "records": []\n}\n')
    with pytest.raises(DataError, match="found an object over several lines"):
        _records(path)


@pytest.mark.parametrize(
    ("value", "defect"),
    [
        ({"query": "a \ud800 b"}, ValueDefect("query", "has a lone surrogate")),
        ({"meta": {"tags": ["ok", "\udfff"]}}, ValueDefect("meta.tags[1]", "has a lone surrogate")),
        ({"x\udc00": 1}, ValueDefect("x\udc00", "the field name has a lone surrogate")),
        (
            {"extra": _nested(MAX_RECORD_DEPTH)},
            ValueDefect("extra", f"nested deeper than {MAX_RECORD_DEPTH}"),
        ),
        ([_nested(DEEP)], ValueDefect("[0]", f"nested deeper than {MAX_RECORD_DEPTH}")),
    ],
)
def test_value_defects_name_the_field(value: Any, defect: ValueDefect) -> None:
    found = value_defect(value)
    assert found is not None
    assert found.field == defect.field and found.problem.startswith(defect.problem)


@pytest.mark.parametrize(
    "value",
    [
        {"query": "a pair \U0001f600, Persian \u0641\u0627\u0631\u0633\u06cc"},
        {"extra": _nested(MAX_RECORD_DEPTH - 1)},
        [1, None, True, 2.5],
    ],
)
def test_values_without_defects(value: Any) -> None:
    assert value_defect(value) is None


def test_an_escaped_surrogate_pair_is_one_character_not_a_defect(tmp_path: Path) -> None:
    path = tmp_path / "pair.jsonl"
    path.write_text('{"q": "\\ud83d\\ude00"}\n{"q": "\\ud83d"}\n')
    first, second = _records(path)
    assert first.value == {"q": "\U0001f600"} and first.defect is None
    assert second.defect is not None and second.defect.field == "q"


def test_nesting_past_the_parser_names_the_file_or_the_line(tmp_path: Path) -> None:
    deep = "[" * DEEP + "]" * DEEP
    array = tmp_path / "deep.json"
    array.write_text(deep)
    with pytest.raises(DataError) as caught:
        _records(array)
    assert (caught.value.file, caught.value.line, caught.value.problem) == (
        str(array),
        None,
        "nested too deeply for a JSON parser",
    )
    lines = tmp_path / "deep.jsonl"
    lines.write_text(f'{{"a": 1}}\n\n{deep}\n')
    with pytest.raises(DataError) as caught:
        _records(lines)
    assert caught.value.line == 3
    with pytest.raises(DataError, match="nested too deeply"):
        parse_json(deep, "inline")


def test_not_utf8_names_the_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "caf\xe9"}\n')
    with pytest.raises(DataError) as caught:
        read_records_file(path)
    assert caught.value.line == 2
    assert caught.value.problem == "not UTF-8 text (byte 19): invalid continuation byte"


def test_size_cap_is_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("wb") as sparse:
        sparse.truncate(1024 * 1024 * 1024)
    with pytest.raises(DataError, match=r"over the size cap \(1073741824 > 1000 bytes\)"):
        read_records_file(path, max_bytes=1000)


def test_files_that_are_not_regular_files(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "dangling").symlink_to("gone")
    os.mkfifo(tmp_path / "fifo")
    expected = {
        "folder": "a folder, not a file",
        "loop": "a symbolic link loop",
        "dangling": "a broken symbolic link",
        "fifo": "not a regular file (a device, pipe or socket)",
        "missing": "missing",
    }
    for name, problem in expected.items():
        assert file_problem(tmp_path / name) == problem
        with pytest.raises(DataError) as caught:
            read_file_bytes(tmp_path / name, max_bytes=100)
        assert (caught.value.file, caught.value.problem) == (str(tmp_path / name), problem)


def test_an_unreadable_file_is_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.json"
    path.write_text("[]")
    real_open = Path.open

    def refusing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refusing_open)
    with pytest.raises(DataError, match="permission denied"):
        read_records_file(path)
    assert os_problem(OSError(errno.EIO, "Input/output error")) == "cannot read: Input/output error"


def test_parse_json_of_a_jsonl_line_names_its_line() -> None:
    with pytest.raises(DataError) as caught:
        parse_json('{"a" 1}', "f.jsonl", line=7)
    assert (caught.value.line, caught.value.column) == (7, 6)
    assert json.loads('{"a": 1}') == parse_json('{"a": 1}', "f.jsonl", line=1)
