"""Export a run's stored rows as JSONL or Parquet: one row per sample and round.

`generation_rows` reads the rows, `write_rows` writes any list of flat rows in either format; other
exports (the judge's verdicts) reuse `open_run_store`, `record_row` and `write_rows` with their own
columns.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

from crosseval.data.records import Sample
from crosseval.engine.store import GenerationRecord, RunStore, VerdictRecord
from crosseval.errors import EXIT_USAGE, UserError

ExportFormat = Literal["jsonl", "parquet"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("jsonl", "parquet")

GENERATION_COLUMNS: tuple[str, ...] = (
    "sample_id",
    "base_id",
    "round",
    "status",
    "response",
    "error",
    "error_kind",
    "subset",
    "setting",
    "variant",
    "country",
    "language",
    "model",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "latency_s",
    "attempts",
    "created_at",
    "key",
)


SAMPLE_COLUMNS: tuple[str, ...] = ("base_id", "subset", "setting", "variant", "country", "language")
"""What an exported row tells of its sample (None for each when the run lacks the sample)."""


class ExportError(UserError):
    """A run directory that cannot be exported (unknown format, Parquet to stdout, an unwritable output)."""

    exit_code = EXIT_USAGE


@contextmanager
def open_run_store(run_dir: Path) -> Iterator[RunStore]:
    """The store of `run_dir`, read-only; a `RunStoreError` names the path when there is none."""
    with RunStore.open_for_reading(run_dir) as store:
        yield store


def record_row(
    record: GenerationRecord | VerdictRecord,
    sample: Sample | None,
    renamed: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A stored record as a flat row: its fields (`renamed` maps field -> column) and its sample's metadata."""
    row = {(renamed or {}).get(name, name): value for name, value in dataclasses.asdict(record).items()}
    row.update({column: getattr(sample, column) if sample else None for column in SAMPLE_COLUMNS})
    return row


def generation_rows(run_dir: Path) -> list[dict[str, Any]]:
    """Every stored generation with its sample's metadata, ordered by sample id and round.

    When a (sample, round) has rows under several keys (its image or text changed between commands),
    only the most recently written one is kept (the store lists them oldest first).
    """
    with open_run_store(Path(run_dir)) as store:
        samples = {s.id: s for s in store.samples()}
        latest: dict[tuple[str, int], dict[str, Any]] = {}
        for record in store.generations():
            latest[(record.sample_id, record.round)] = record_row(record, samples.get(record.sample_id))
    return [latest[k] for k in sorted(latest)]


def write_rows(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: ExportFormat, out: Path | None
) -> None:
    """Write `rows` (with exactly `columns`) as JSONL (to `out`, or stdout when `None`) or Parquet (a file).

    The folder of `out` is created when missing; a file that cannot be written is an `ExportError`.
    """
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    if out is None:
        if fmt == "parquet":
            raise ExportError("Parquet is binary: give --out FILE")
        _write_jsonl(rows, columns, sys.stdout)
        return
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        if fmt == "jsonl":
            with Path(out).open("w", encoding="utf-8") as handle:
                _write_jsonl(rows, columns, handle)
        else:
            _write_parquet(rows, columns, Path(out))
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from exc


def _write_parquet(rows: Sequence[dict[str, Any]], columns: Sequence[str], out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if rows:
        table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
    else:
        table = pa.table({c: pa.array([], pa.string()) for c in columns})
    pq.write_table(table, str(out))


def _write_jsonl(rows: Sequence[dict[str, Any]], columns: Sequence[str], handle: IO[str]) -> None:
    for row in rows:
        handle.write(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False) + "\n")


def export_generations(run_dir: Path, fmt: ExportFormat, out: Path | None = None) -> int:
    """Export a run's generations (one row per sample and round); returns the number of rows written."""
    rows = generation_rows(run_dir)
    write_rows(rows, GENERATION_COLUMNS, fmt, out)
    return len(rows)
