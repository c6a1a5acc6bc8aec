"""The run store: one SQLite file (WAL) per run directory holding samples, generations and verdicts.

Every request is a row keyed by a hash of everything that changes its output, so re-running a
command sends only what is missing. Each row is committed as soon as it is written: a crash loses at
most the requests in flight, and a key is written at most once per outcome (INSERT OR REPLACE).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from crosseval.data.records import Sample

STORE_FILENAME = "run.sqlite"

GenerationStatus = Literal["ok", "error"]
VerdictStatus = Literal["ok", "parse_error", "api_error", "refused"]
Dimension = Literal["awareness", "education", "violation", "helpfulness"]
DIMENSIONS: tuple[Dimension, ...] = ("awareness", "education", "violation", "helpfulness")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
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
CREATE TABLE IF NOT EXISTS images (
    sha256 TEXT PRIMARY KEY,
    mime TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    thumbnail BLOB
);
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    sample_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
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
CREATE INDEX IF NOT EXISTS generations_sample ON generations (sample_id, round);
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY,
    generation_key TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    dimension TEXT NOT NULL,
    judge_config TEXT NOT NULL,
    judge_model TEXT NOT NULL,
    protocol TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'parse_error', 'api_error', 'refused')),
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
CREATE INDEX IF NOT EXISTS verdicts_generation ON verdicts (generation_key, judge_config);
CREATE TABLE IF NOT EXISTS image_sources (
    source_key TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL
);
"""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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


class RunStore:
    """Typed access to a run's SQLite file. Open with `RunStore.open(run_dir)`; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.executescript(_SCHEMA)

    @classmethod
    def open(cls, run_dir: Path) -> RunStore:
        return cls(Path(run_dir) / STORE_FILENAME)

    @classmethod
    def exists(cls, run_dir: Path) -> bool:
        return (Path(run_dir) / STORE_FILENAME).is_file()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # samples and images -------------------------------------------------------------------------

    def put_samples(self, samples: Iterable[Sample], image_sha256: dict[str, str] | None = None) -> None:
        """Store the samples of this run (a snapshot, so reports need no dataset). Idempotent."""
        shas = image_sha256 or {}
        rows = [
            (
                s.id,
                s.base_id,
                s.subset,
                s.setting,
                s.variant,
                s.country,
                s.language,
                s.domain,
                shas.get(s.id),
                s.model_dump_json(),
            )
            for s in samples
        ]
        with self.transaction():
            self._conn.executemany(
                "INSERT INTO samples VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(sample_id) DO UPDATE SET "
                "image_sha256 = COALESCE(excluded.image_sha256, samples.image_sha256), "
                "record_json = excluded.record_json",
                rows,
            )

    def samples(self) -> list[Sample]:
        rows = self._conn.execute("SELECT record_json FROM samples ORDER BY rowid").fetchall()
        return [Sample.model_validate_json(r["record_json"]) for r in rows]

    def sample_image_sha256(self) -> dict[str, str]:
        rows = self._conn.execute(
            "SELECT sample_id, image_sha256 FROM samples WHERE image_sha256 IS NOT NULL"
        )
        return {r["sample_id"]: r["image_sha256"] for r in rows}

    def put_image(self, image: StoredImage) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO images VALUES (?,?,?,?,?)",
            (image.sha256, image.mime, image.width, image.height, image.thumbnail),
        )

    def images(self) -> dict[str, StoredImage]:
        """sha256 -> stored image, for every image of this run."""
        rows = self._conn.execute("SELECT * FROM images")
        return {
            r["sha256"]: StoredImage(r["sha256"], r["mime"], r["width"], r["height"], r["thumbnail"])
            for r in rows
        }

    def put_image_source(self, source_key: str, sha256: str) -> None:
        """Remember that the image source `source_key` (file + preprocessing) prepares to `sha256`.

        A rerun then computes request keys from this memo without decoding unchanged images again.
        """
        self._conn.execute("INSERT OR REPLACE INTO image_sources VALUES (?,?)", (source_key, sha256))

    def image_sources(self) -> dict[str, str]:
        """source_key -> sha256 of the prepared image, for every image source seen in this run."""
        return {r[0]: r[1] for r in self._conn.execute("SELECT source_key, sha256 FROM image_sources")}

    def image(self, sha256: str) -> StoredImage | None:
        row = self._conn.execute("SELECT * FROM images WHERE sha256 = ?", (sha256,)).fetchone()
        if row is None:
            return None
        return StoredImage(row["sha256"], row["mime"], row["width"], row["height"], row["thumbnail"])

    # generations ----------------------------------------------------------------------------------

    def put_generation(self, record: GenerationRecord) -> None:
        created = record.created_at or utc_now()
        self._conn.execute(
            "INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                record.key,
                record.sample_id,
                record.round,
                record.model,
                record.status,
                record.response,
                record.error,
                record.finish_reason,
                record.prompt_tokens,
                record.completion_tokens,
                record.latency_s,
                record.attempts,
                created,
                record.error_kind,
            ),
        )

    def generation_statuses(self) -> dict[str, GenerationStatus]:
        """key -> status of every stored generation (for resume decisions)."""
        return {r[0]: r[1] for r in self._conn.execute("SELECT key, status FROM generations")}

    def token_usage(self) -> tuple[int, int]:
        """(prompt, completion) tokens summed over every stored generation (what the run has cost so far)."""
        row = self._conn.execute(
            "SELECT COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0) FROM generations"
        ).fetchone()
        return int(row[0]), int(row[1])

    def generations(self, status: GenerationStatus | None = None) -> list[GenerationRecord]:
        sql = "SELECT * FROM generations"
        args: tuple[str, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            args = (status,)
        sql += " ORDER BY sample_id, round, rowid"
        return [GenerationRecord(**dict(r)) for r in self._conn.execute(sql, args)]

    # verdicts -------------------------------------------------------------------------------------

    def put_verdict(self, record: VerdictRecord) -> None:
        self.put_verdicts([record])

    def put_verdicts(self, records: Iterable[VerdictRecord]) -> None:
        """Store several verdicts atomically (a `single`-protocol call yields four)."""
        rows = [
            (
                r.key,
                r.generation_key,
                r.sample_id,
                r.round,
                r.dimension,
                r.judge_config,
                r.judge_model,
                r.protocol,
                r.status,
                r.score,
                r.reason,
                r.raw,
                r.error,
                r.prompt_tokens,
                r.completion_tokens,
                r.attempts,
                r.created_at or utc_now(),
            )
            for r in records
        ]
        with self.transaction():
            self._conn.executemany(
                "INSERT OR REPLACE INTO verdicts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
            )

    def verdict_statuses(self) -> dict[str, VerdictStatus]:
        return {r[0]: r[1] for r in self._conn.execute("SELECT key, status FROM verdicts")}

    def verdicts(self, judge_config: str | None = None) -> list[VerdictRecord]:
        sql = "SELECT * FROM verdicts"
        args: tuple[str, ...] = ()
        if judge_config is not None:
            sql += " WHERE judge_config = ?"
            args = (judge_config,)
        sql += " ORDER BY sample_id, round, dimension"
        return [VerdictRecord(**dict(r)) for r in self._conn.execute(sql, args)]

    def judge_configs(self) -> list[str]:
        """The judge configurations that have verdicts in this run, oldest first."""
        rows = self._conn.execute(
            "SELECT judge_config, MIN(created_at) AS first FROM verdicts GROUP BY judge_config ORDER BY first"
        )
        return [r["judge_config"] for r in rows]
