"""The run store: one SQLite file (WAL) per run directory holding samples, generations and verdicts.

Every request is a row keyed by a hash of everything that changes its output, so re-running a
command sends only what is missing. Each row is committed as soon as it is written: a crash loses at
most the requests in flight. A stored answer, or an `ok` verdict, is final: writing its key again
replaces only an error.

One process writes a run (`RunStore.open_for_writing` takes the run's lock, see `run_lock`); any
number read it meanwhile (`RunStore.open_for_reading` refuses every write and creates nothing).
Both refuse, with a `RunStoreError` naming the file and what to do, a store they cannot trust: empty,
truncated, not a database, written by another schema version, or holding fewer answers than the run's
`manifest.json` records.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from crosseval.clock import utc_now
from crosseval.data.records import Sample
from crosseval.engine.manifest import MANIFEST_FILENAME, ManifestError, read_manifest
from crosseval.engine.run_lock import RunLock
from crosseval.errors import UserError
from crosseval.vocabulary import DIMENSIONS as DIMENSIONS  # re-exported until callers import the vocabulary
from crosseval.vocabulary import (
    GENERATION_STATUSES,
    VERDICT_STATUSES,
    Dimension,
    GenerationStatus,
    VerdictStatus,
)

STORE_FILENAME = "run.sqlite"

SCHEMA_VERSION = 1
"""The `PRAGMA user_version` of the stores this code writes and reads. Stores written before the
version was recorded carry 0 and the same tables: they are read as version 1, and stamped 1 when next
opened for writing."""

_SQLITE_HEADER = b"SQLite format 3\x00"
_HEADER_BYTES = 100


def _sql_list(values: Iterable[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


_SCHEMA = f"""
CREATE TABLE samples (
    sample_id TEXT PRIMARY KEY,
    base_id TEXT NOT NULL,
    subset TEXT NOT NULL,
    setting TEXT NOT NULL,
    variant INTEGER NOT NULL,
    country TEXT NOT NULL,
    language TEXT NOT NULL,
    domain TEXT NOT NULL,
    image_sha256 TEXT,
    record_json TEXT NOT NULL
);
CREATE TABLE images (
    sha256 TEXT PRIMARY KEY,
    mime TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    thumbnail BLOB
);
CREATE TABLE generations (
    key TEXT PRIMARY KEY,
    sample_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({_sql_list(GENERATION_STATUSES)})),
    response TEXT,
    error TEXT,
    finish_reason TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_s REAL,
    attempts INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    error_kind TEXT
);
CREATE INDEX generations_sample ON generations (sample_id, round);
CREATE TABLE verdicts (
    key TEXT PRIMARY KEY,
    generation_key TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    dimension TEXT NOT NULL,
    judge_config TEXT NOT NULL,
    judge_model TEXT NOT NULL,
    protocol TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({_sql_list(VERDICT_STATUSES)})),
    score INTEGER CHECK (score IS NULL OR score IN (0, 1)),
    reason TEXT,
    raw TEXT,
    error TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    attempts INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    CHECK ((status = 'ok') = (score IS NOT NULL))
);
CREATE INDEX verdicts_generation ON verdicts (generation_key, judge_config);
CREATE TABLE image_sources (
    source_key TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL
);
"""


class RunStoreError(UserError):
    """A run store that cannot be used: missing, empty, truncated, damaged, or from another version."""


@dataclass(frozen=True)
class GenerationRecord:
    key: str
    sample_id: str
    round: int
    model: str
    status: GenerationStatus
    response: str | None = None
    error: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    attempts: int = 1
    created_at: str = ""
    error_kind: str | None = None
    """The `BackendError.kind` (or `image`) of a failed generation; `None` when `status == "ok"`."""


@dataclass(frozen=True)
class VerdictRecord:
    """One dimension's verdict on one generation. `score` is set only when `status == "ok"`."""

    key: str
    generation_key: str
    sample_id: str
    round: int
    dimension: Dimension
    judge_config: str
    judge_model: str
    protocol: str
    status: VerdictStatus
    score: int | None = None
    reason: str | None = None
    raw: str | None = None
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    attempts: int = 1
    created_at: str = ""


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    mime: str
    width: int
    height: int
    thumbnail: bytes | None


def _columns(record_type: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(record_type))


def _upsert(
    table: str,
    columns: Sequence[str],
    key: str,
    *,
    updates: Mapping[str, str] | None = None,
    keep_ok: bool = False,
) -> str:
    """`INSERT ... ON CONFLICT(key) DO UPDATE` with named parameters (`:column`).

    `updates` maps the columns a conflict rewrites to their new value (default: every other column
    takes the new row's); `keep_ok` leaves a row whose status is already `ok` as it is.
    """
    assignments = updates or {column: f"excluded.{column}" for column in columns if column != key}
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(f':{c}' for c in columns)}) "
        f"ON CONFLICT({key}) DO UPDATE SET {', '.join(f'{c} = {v}' for c, v in assignments.items())}"
        + (f" WHERE {table}.status != 'ok'" if keep_ok else "")
    )


_SAMPLE_COLUMNS = (
    "sample_id",
    "base_id",
    "subset",
    "setting",
    "variant",
    "country",
    "language",
    "domain",
    "image_sha256",
    "record_json",
)
_PUT_SAMPLE = _upsert(
    "samples",
    _SAMPLE_COLUMNS,
    "sample_id",
    updates={
        "image_sha256": "COALESCE(excluded.image_sha256, samples.image_sha256)",
        "record_json": "excluded.record_json",
    },
)
_PUT_IMAGE = _upsert("images", _columns(StoredImage), "sha256")
_PUT_IMAGE_SOURCE = _upsert("image_sources", ("source_key", "sha256"), "source_key")
_PUT_GENERATION = _upsert("generations", _columns(GenerationRecord), "key", keep_ok=True)
_PUT_VERDICT = _upsert("verdicts", _columns(VerdictRecord), "key", keep_ok=True)


class RunStore:
    """Typed access to a run's SQLite file; use as a context manager.

    Open with `RunStore.open_for_writing(run_dir, command=...)` or `RunStore.open_for_reading(run_dir)`.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection, lock: RunLock | None) -> None:
        self.path = path
        self._conn = connection
        self._lock = lock

    @classmethod
    def open_for_writing(cls, run_dir: Path, *, command: str) -> RunStore:
        """The run's store, written by this process alone until `close()`.

        Takes the run's lock (`RunInUse`, naming the holder, when another process writes the run) and
        creates the run directory and an empty store when there is none. `command` names the writer in
        that message (`crosseval generate`). Raises `RunStoreError` for a store it cannot trust.
        """
        run_dir = Path(run_dir)
        lock = RunLock.acquire(run_dir, command=command)
        try:
            path = run_dir / STORE_FILENAME
            if not os.path.lexists(path):
                _refuse_lost_answers(run_dir, path, stored_answers=0)
                _create(path)
            return cls(path, _open_checked(run_dir, path, read_only=False), lock)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def open_for_reading(cls, run_dir: Path) -> RunStore:
        """The run's store, read-only: creates nothing and works while a writer runs.

        Raises `RunStoreError` when there is no store or it cannot be trusted.
        """
        run_dir = Path(run_dir)
        path = run_dir / STORE_FILENAME
        if not os.path.lexists(path):
            _refuse_lost_answers(run_dir, path, stored_answers=0)
            raise RunStoreError(
                f"{path}: no run store here",
                hint=f"is {run_dir} a crosseval run directory? `crosseval generate` creates one",
            )
        return cls(path, _open_checked(run_dir, path, read_only=True), None)

    @classmethod
    def exists(cls, run_dir: Path) -> bool:
        return (Path(run_dir) / STORE_FILENAME).is_file()

    def close(self) -> None:
        self._conn.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._execute("BEGIN")
        try:
            yield
        except BaseException:
            self._execute("ROLLBACK")
            raise
        self._execute("COMMIT")

    def _execute(self, sql: str, parameters: Mapping[str, Any] | Sequence[Any] = ()) -> sqlite3.Cursor:
        with _reading(self.path):
            return self._conn.execute(sql, parameters)

    def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with _reading(self.path):
            return self._conn.execute(sql, parameters).fetchall()

    def _put_many(self, sql: str, rows: Iterable[Mapping[str, Any]]) -> None:
        with self.transaction(), _reading(self.path):
            self._conn.executemany(sql, rows)

    # samples and images -------------------------------------------------------------------------

    def put_samples(self, samples: Iterable[Sample], image_sha256: dict[str, str] | None = None) -> None:
        """Store the samples of this run (a snapshot, so reports need no dataset). Idempotent."""
        shas = image_sha256 or {}
        self._put_many(
            _PUT_SAMPLE,
            (
                {
                    "sample_id": s.id,
                    "base_id": s.base_id,
                    "subset": s.subset,
                    "setting": s.setting,
                    "variant": s.variant,
                    "country": s.country,
                    "language": s.language,
                    "domain": s.domain,
                    "image_sha256": shas.get(s.id),
                    "record_json": s.model_dump_json(),
                }
                for s in samples
            ),
        )

    def samples(self) -> list[Sample]:
        rows = self._rows("SELECT record_json FROM samples ORDER BY rowid")
        return [Sample.model_validate_json(r["record_json"]) for r in rows]

    def sample_image_sha256(self) -> dict[str, str]:
        rows = self._rows("SELECT sample_id, image_sha256 FROM samples WHERE image_sha256 IS NOT NULL")
        return {r["sample_id"]: r["image_sha256"] for r in rows}

    def put_image(self, image: StoredImage) -> None:
        self._execute(_PUT_IMAGE, dataclasses.asdict(image))

    def images(self) -> dict[str, StoredImage]:
        """sha256 -> stored image, for every image of this run."""
        return {r["sha256"]: StoredImage(**dict(r)) for r in self._rows("SELECT * FROM images")}

    def put_image_source(self, source_key: str, sha256: str) -> None:
        """Remember that the image source `source_key` (file + preprocessing) prepares to `sha256`.

        A rerun then computes request keys from this memo without decoding unchanged images again.
        """
        self._execute(_PUT_IMAGE_SOURCE, {"source_key": source_key, "sha256": sha256})

    def image_sources(self) -> dict[str, str]:
        """source_key -> sha256 of the prepared image, for every image source seen in this run."""
        return {r[0]: r[1] for r in self._rows("SELECT source_key, sha256 FROM image_sources")}

    def image(self, sha256: str) -> StoredImage | None:
        rows = self._rows("SELECT * FROM images WHERE sha256 = ?", (sha256,))
        return StoredImage(**dict(rows[0])) if rows else None

    # generations ----------------------------------------------------------------------------------

    def put_generation(self, record: GenerationRecord) -> None:
        """Store a generation, unless its key already holds an answer (`ok`), which is never replaced."""
        self._execute(_PUT_GENERATION, _row(record))

    def generation_statuses(self) -> dict[str, GenerationStatus]:
        """key -> status of every stored generation (for resume decisions)."""
        return {r[0]: r[1] for r in self._rows("SELECT key, status FROM generations")}

    def token_usage(self) -> tuple[int, int]:
        """(prompt, completion) tokens summed over every stored generation (what the run has cost so far)."""
        row = self._rows(
            "SELECT COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0) FROM generations"
        )[0]
        return int(row[0]), int(row[1])

    def generations(self, status: GenerationStatus | None = None) -> list[GenerationRecord]:
        sql = "SELECT * FROM generations"
        args: tuple[str, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            args = (status,)
        sql += " ORDER BY sample_id, round, rowid"
        return [GenerationRecord(**dict(r)) for r in self._rows(sql, args)]

    # verdicts -------------------------------------------------------------------------------------

    def put_verdicts(self, records: Iterable[VerdictRecord]) -> None:
        """Store several verdicts atomically (a `single`-protocol call yields four); an `ok` one is final."""
        self._put_many(_PUT_VERDICT, (_row(r) for r in records))

    def verdict_statuses(self) -> dict[str, VerdictStatus]:
        return {r[0]: r[1] for r in self._rows("SELECT key, status FROM verdicts")}

    def verdicts(self, judge_config: str | None = None) -> list[VerdictRecord]:
        sql = "SELECT * FROM verdicts"
        args: tuple[str, ...] = ()
        if judge_config is not None:
            sql += " WHERE judge_config = ?"
            args = (judge_config,)
        sql += " ORDER BY sample_id, round, dimension"
        return [VerdictRecord(**dict(r)) for r in self._rows(sql, args)]

    def judge_configs(self) -> list[str]:
        """The judge configurations that have verdicts in this run, oldest first."""
        rows = self._rows(
            "SELECT judge_config, MIN(created_at) AS first FROM verdicts GROUP BY judge_config ORDER BY first"
        )
        return [r["judge_config"] for r in rows]


def _row(record: GenerationRecord | VerdictRecord) -> dict[str, Any]:
    """A record as named SQL parameters, stamped with the time now when it carries none."""
    row = {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}
    row["created_at"] = record.created_at or utc_now()
    return row


# opening and checking the file ------------------------------------------------------------------

_DAMAGED_HINT = (
    "restore run.sqlite from a backup; or move the run directory aside and generate into a new one "
    "(every request is then sent again)"
)


_DAMAGE_ERRORS = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_ACCESS_ERRORS = frozenset(
    {
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_READONLY,
    }
)
_ACCESS_HINT = "check that the run directory and its files can be read and written, and the free disk space"


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """SQLite's complaints about the file itself as a `RunStoreError` naming it; other errors are bugs."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code not in _DAMAGE_ERRORS | _ACCESS_ERRORS:
            raise
        hint = _DAMAGED_HINT if code in _DAMAGE_ERRORS else _ACCESS_HINT
        raise RunStoreError(f"{path}: cannot be used as a run store ({exc})", hint=hint) from exc


def _create(path: Path) -> None:
    """Write an empty store of this schema version beside `path`, then rename it into place.

    A crash leaves no store or a whole one, so an empty or half-made `run.sqlite` is always damage.
    """
    partial = path.with_name(f".{path.name}.creating")
    partial.unlink(missing_ok=True)
    with _reading(partial):
        connection = sqlite3.connect(str(partial), isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        finally:
            connection.close()
    os.replace(partial, path)


def _open_checked(run_dir: Path, path: Path, *, read_only: bool) -> sqlite3.Connection:
    """A connection to the existing store at `path` once the file, its schema and its answers check out.

    `mode=rw` never creates the file. A reader's connection refuses every write (`query_only`) but is
    not `mode=ro`: SQLite removes the write-ahead log when the last read-write connection closes,
    whereas a `mode=ro` one leaves an empty log behind, which changes the run's files for whoever
    watches them (`crosseval view`).
    """
    _check_file(path)
    with _reading(path):
        connection = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None, check_same_thread=False
        )
    connection.row_factory = sqlite3.Row
    try:
        with _reading(path):
            connection.execute("PRAGMA busy_timeout=10000")
            if read_only:
                connection.execute("PRAGMA query_only=ON")
            else:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
            version = _check_schema(path, connection)
            if version == 0 and not read_only:
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            answers = connection.execute("SELECT COUNT(*) FROM generations WHERE status = 'ok'").fetchone()
        _refuse_lost_answers(run_dir, path, stored_answers=int(answers[0]))
    except BaseException:
        connection.close()
        raise
    return connection


def _check_file(path: Path) -> None:
    """Refuse a file that cannot be a whole store: not a file, empty, without SQLite's header, cut short."""
    if not path.is_file():
        raise RunStoreError(f"{path}: not a file", hint="move it aside; a run store is a SQLite file")
    size = path.stat().st_size
    if size == 0:
        raise RunStoreError(f"{path}: the run store is empty (0 bytes)", hint=_DAMAGED_HINT)
    with path.open("rb") as handle:
        header = handle.read(_HEADER_BYTES)
    if len(header) < _HEADER_BYTES or not header.startswith(_SQLITE_HEADER):
        raise RunStoreError(
            f"{path}: not a SQLite database (its header is damaged); the run's rows cannot be read",
            hint=_DAMAGED_HINT,
        )
    declared = _declared_size(header)
    if declared > size and not _has_log(path):
        raise RunStoreError(
            f"{path}: the run store is truncated ({size} bytes of the {declared} its header declares)",
            hint=_DAMAGED_HINT,
        )


def _declared_size(header: bytes) -> int:
    """The file size SQLite's header declares (page size x page count), or 0 when the count is not valid."""
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    change_counter, valid_for = header[24:28], header[92:96]
    return page_size * pages if change_counter == valid_for else 0


def _has_log(path: Path) -> bool:
    """Whether the write-ahead log holds pages. A writer copying them into the file updates its header
    before the file grows, so while the log holds pages the file's size proves nothing."""
    log = path.with_name(path.name + "-wal")
    return log.is_file() and log.stat().st_size > 0


@cache
def _expected_tables() -> dict[str, set[str]]:
    reference = sqlite3.connect(":memory:")
    try:
        reference.executescript(_SCHEMA)
        return _tables(reference)
    finally:
        reference.close()


def _tables(connection: sqlite3.Connection) -> dict[str, set[str]]:
    """table -> its column names."""
    names = [r[0] for r in connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
    return {
        name: {r[0] for r in connection.execute("SELECT name FROM pragma_table_info(?)", (name,))}
        for name in names
    }


def _check_schema(path: Path, connection: sqlite3.Connection) -> int:
    """The store's schema version, once its tables are the ones this code reads and writes."""
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise RunStoreError(
            f"{path}: written by a newer crosseval (store schema {version}; this one reads {SCHEMA_VERSION})",
            hint="upgrade crosseval to use this run",
        )
    if version not in (0, SCHEMA_VERSION):
        raise RunStoreError(f"{path}: unknown store schema version {version}", hint=_DAMAGED_HINT)
    tables = _tables(connection)
    wrong = sorted(name for name, columns in _expected_tables().items() if tables.get(name) != columns)
    if wrong:
        raise RunStoreError(
            f"{path}: not a crosseval run store of schema {SCHEMA_VERSION} "
            f"(missing or different tables: {', '.join(wrong)})",
            hint=_DAMAGED_HINT,
        )
    return version


def _refuse_lost_answers(run_dir: Path, path: Path, *, stored_answers: int) -> None:
    """Refuse a store holding fewer answers than the run's manifest says it stored: rows were lost."""
    try:
        generation = read_manifest(run_dir).get("generation") or {}
    except ManifestError as exc:
        raise RunStoreError(f"cannot check {path} against the run's manifest: {exc}") from exc
    stored = generation.get("stored") if isinstance(generation, dict) else None
    recorded = stored.get("ok") if isinstance(stored, dict) else None
    if not isinstance(recorded, int) or stored_answers >= recorded:
        return
    found = f"holds {stored_answers} answers" if os.path.lexists(path) else "is missing"
    raise RunStoreError(
        f"{path} {found}, but {run_dir / MANIFEST_FILENAME} records {recorded} stored: "
        "the store was replaced, emptied or moved",
        hint="put the run's own run.sqlite back; or move the run directory aside and generate into a new "
        "one (every request is then sent again)",
    )
