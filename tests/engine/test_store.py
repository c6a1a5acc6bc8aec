"""The run store guards itself: answers and `ok` verdicts are final, and a store it cannot trust is refused.

Damaged stores go through the real CLI in a subprocess: each command must end non-zero with a message
naming the file, never with a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from crosseval.engine.manifest import update_manifest
from crosseval.engine.store import (
    SCHEMA_VERSION,
    STORE_FILENAME,
    GenerationRecord,
    RunStore,
    RunStoreError,
)
from crosseval.vocabulary import GENERATION_STATUSES, VERDICT_STATUSES
from tests.conftest import REPO_ROOT
from tests.helpers.fake_run import FakeJudge, make_sample, ok_generation, verdict, write_fake_run
from tests.helpers.openai_server import OpenAIServer

SAMPLES = [make_sample("casa", "english", f"Japan_{n}") for n in (1, 2, 3)]
MODEL = "openai/test-model"


def store_path(run_dir: Path) -> Path:
    return run_dir / STORE_FILENAME


def fake_run(run_dir: Path) -> Path:
    """A judged run of three samples, two rounds each, with its manifest, and the store closed."""
    write_fake_run(run_dir, SAMPLES, score=lambda sample, round_, dimension: 1, rounds=(1, 2))
    update_manifest(run_dir, "generation", {"model": MODEL, "stored": {"ok": 6, "error": 0, "missing": 0}})
    return run_dir


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def user_version(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("PRAGMA user_version").fetchone()[0])
    finally:
        connection.close()


def set_user_version(path: Path, version: int) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute(f"PRAGMA user_version = {version}")
        connection.commit()
    finally:
        connection.close()


# answers and verdicts are final ------------------------------------------------------------------


def test_a_stored_answer_is_never_replaced_but_an_error_is(tmp_path: Path) -> None:
    sample = SAMPLES[0]
    with RunStore.open_for_writing(tmp_path, command="test") as store:
        store.put_generation(ok_generation(sample, 1, MODEL, "the first answer", key="answered"))
        store.put_generation(ok_generation(sample, 1, MODEL, "a second answer", key="answered"))
        store.put_generation(GenerationRecord("answered", sample.id, 1, MODEL, "error", error="late failure"))
        store.put_generation(GenerationRecord("failed", sample.id, 2, MODEL, "error", error="timeout"))
        store.put_generation(ok_generation(sample, 2, MODEL, "answered on retry", key="failed"))
        rows = {row.key: row for row in store.generations()}

    assert (rows["answered"].status, rows["answered"].response) == ("ok", "the first answer")
    assert (rows["failed"].status, rows["failed"].response, rows["failed"].error) == (
        "ok",
        "answered on retry",
        None,
    )


def test_an_ok_verdict_is_never_replaced_but_a_failed_one_is(tmp_path: Path) -> None:
    judge = FakeJudge()
    with RunStore.open_for_writing(tmp_path, command="test") as store:
        store.put_verdicts([verdict("g", "s", 1, "awareness", 1, key="scored")])
        store.put_verdicts([verdict("g", "s", 1, "awareness", 0, key="scored")])
        store.put_verdicts([verdict("g", "s", 1, "awareness", "parse_error", key="scored")])
        store.put_verdicts([verdict("g", "s", 1, "education", "api_error", key="failed", judge=judge)])
        store.put_verdicts([verdict("g", "s", 1, "education", 0, key="failed", judge=judge)])
        rows = {row.key: row for row in store.verdicts()}

    assert (rows["scored"].status, rows["scored"].score) == ("ok", 1)
    assert (rows["failed"].status, rows["failed"].score, rows["failed"].error) == ("ok", 0, None)


def test_the_status_checks_are_the_vocabulary(tmp_path: Path) -> None:
    sample = SAMPLES[0]
    with RunStore.open_for_writing(tmp_path, command="test") as store:
        for status in GENERATION_STATUSES:
            store.put_generation(GenerationRecord(f"g-{status}", sample.id, 1, MODEL, status))
        scored = verdict("g", "s", 1, "awareness", 1)
        for status in VERDICT_STATUSES:
            score = 1 if status == "ok" else None
            store.put_verdicts([replace(scored, key=status, status=status, score=score)])
        with pytest.raises(sqlite3.IntegrityError):
            store.put_generation(replace(ok_generation(sample, 1, MODEL, "x", key="other"), status="pending"))
        with pytest.raises(sqlite3.IntegrityError):
            store.put_verdicts([replace(scored, key="other", status="maybe", score=None)])
        assert {g.status for g in store.generations()} == set(GENERATION_STATUSES)
        assert {v.status for v in store.verdicts()} == set(VERDICT_STATUSES)


# opening --------------------------------------------------------------------------------------------


def test_reading_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(RunStoreError, match=f"{tmp_path / 'absent' / STORE_FILENAME}: no run store here"):
        RunStore.open_for_reading(tmp_path / "absent")
    assert not (tmp_path / "absent").exists()

    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(RunStoreError, match="no run store here"):
        RunStore.open_for_reading(empty_dir)
    assert list(empty_dir.iterdir()) == []


def test_a_new_store_carries_its_schema_version_and_reading_changes_nothing(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path / "run")
    path = store_path(run_dir)
    assert user_version(path) == SCHEMA_VERSION
    before = sha256(path)

    with RunStore.open_for_reading(run_dir) as store:
        assert len(store.generations()) == 6
        with pytest.raises(RunStoreError, match="readonly"):
            store.put_samples(SAMPLES)

    assert sha256(path) == before
    assert sorted(p.name for p in run_dir.iterdir()) == ["manifest.json", "run.lock", STORE_FILENAME]


def test_a_store_from_before_versions_is_read_as_version_1_and_stamped_when_written(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path / "run")
    path = store_path(run_dir)
    set_user_version(path, 0)
    before = sha256(path)

    with RunStore.open_for_reading(run_dir) as store:
        assert len(store.verdicts()) == 24
    assert sha256(path) == before

    RunStore.open_for_writing(run_dir, command="test").close()
    assert user_version(path) == SCHEMA_VERSION


def test_a_database_without_the_run_tables_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    connection = sqlite3.connect(store_path(run_dir))
    connection.execute("CREATE TABLE generations (key TEXT PRIMARY KEY, text TEXT)")
    connection.execute("""CREATE TABLE "it's mine" (x)""")
    connection.close()

    for open_store in (RunStore.open_for_reading, lambda d: RunStore.open_for_writing(d, command="test")):
        with pytest.raises(RunStoreError, match=r"not a crosseval run store .*generations, image_sources"):
            open_store(run_dir)


def test_a_writer_refuses_to_start_afresh_where_the_manifest_records_answers(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path / "run")
    store_path(run_dir).unlink()

    with pytest.raises(RunStoreError, match=r"run.sqlite is missing, but .*manifest.json records 6 stored"):
        RunStore.open_for_writing(run_dir, command="test")
    assert not store_path(run_dir).exists()
    with pytest.raises(RunStoreError, match="is missing, but"):
        RunStore.open_for_reading(run_dir)

    RunStore.open_for_writing(tmp_path / "other", command="test").close()
    os.replace(store_path(tmp_path / "other"), store_path(run_dir))  # a whole store, of another run
    with pytest.raises(RunStoreError, match=r"holds 0 answers, but .*records 6 stored"):
        RunStore.open_for_writing(run_dir, command="test")


# damaged stores through the CLI ---------------------------------------------------------------------


def empty(path: Path) -> None:
    path.write_bytes(b"")


def truncated(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def garbage_header(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.write(b"this is not SQLite at all")


def from_the_future(path: Path) -> None:
    set_user_version(path, SCHEMA_VERSION + 1)


def emptied_but_manifest_records_answers(path: Path) -> None:
    fresh = path.parent.parent / "fresh"
    RunStore.open_for_writing(fresh, command="test").close()
    os.replace(store_path(fresh), path)


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty": (empty, "the run store is empty (0 bytes)"),
    "truncated": (truncated, "the run store is truncated"),
    "garbage header": (garbage_header, "not a SQLite database (its header is damaged)"),
    "future version": (from_the_future, f"written by a newer crosseval (store schema {SCHEMA_VERSION + 1}"),
    "emptied": (emptied_but_manifest_records_answers, "holds 0 answers, but"),
}


def crosseval(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crosseval", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), **(env or {})},
    )


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_store_is_refused_by_every_command_with_the_file_named(
    damage: str, tmp_path: Path, cross_sample: Path
) -> None:
    run_dir = fake_run(tmp_path / "run")
    path = store_path(run_dir)
    spoil, message = DAMAGES[damage]
    spoil(path)
    damaged = path.read_bytes()

    with OpenAIServer() as server:
        generate = ["generate", "--model", MODEL, "--base-url", server.base_url, "--no-progress"]
        generate += ["--data", str(cross_sample / "casa" / "english.json"), "--run-dir", str(run_dir)]
        for args in (["export", str(run_dir)], ["report", str(run_dir)], generate):
            result = crosseval(*args, env={"OPENAI_API_KEY": "sk-test"})
            assert result.returncode == 1, (args, result.stdout, result.stderr)
            assert "Traceback" not in result.stderr, result.stderr
            assert f"{path}" in result.stderr and message in result.stderr, result.stderr
            assert "hint: " in result.stderr
        assert server.count == 0

    assert path.read_bytes() == damaged


def test_the_truncation_check_reads_the_header(tmp_path: Path) -> None:
    """The header declares the file's size: one page short is truncated, the whole file is not."""
    run_dir = fake_run(tmp_path / "run")
    path = store_path(run_dir)
    header = path.read_bytes()[:100]
    page_size = int.from_bytes(header[16:18], "big")
    assert int.from_bytes(header[28:32], "big") * page_size == path.stat().st_size

    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size - page_size)
    with pytest.raises(RunStoreError, match=f"truncated \\({path.stat().st_size} bytes of the "):
        RunStore.open_for_reading(run_dir)


def test_a_damaged_manifest_is_named_not_a_traceback(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path / "run")
    (run_dir / "manifest.json").write_text(json.dumps([1, 2]))
    with pytest.raises(RunStoreError, match=r"cannot check .*run.sqlite against the run's manifest"):
        RunStore.open_for_reading(run_dir)
