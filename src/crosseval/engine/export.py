"""Export a run's stored rows as JSONL or Parquet: one row per sample and round.

`generation_rows` reads the rows, `write_rows` writes any list of flat rows in either format; other
exports (the judge's verdicts) reuse `write_rows` with their own row builder.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Literal

from crosseval.engine.store import RunStore

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


class ExportError(Exception):
    """A run directory that cannot be exported (no store, unknown format)."""


def generation_rows(run_dir: Path) -> list[dict[str, Any]]:
    """Every stored generation with its sample's metadata, ordered by sample id and round.

    When a (sample, round) has rows under several keys (its image or text changed between commands),
    only the most recently written one is kept (the store lists them oldest first).
    """
    run_dir = Path(run_dir)
    if not RunStore.exists(run_dir):
        raise ExportError(f"{run_dir}: no run store here (expected {run_dir / 'run.sqlite'})")
    with RunStore.open(run_dir) as store:
        samples = {s.id: s for s in store.samples()}
        latest: dict[tuple[str, int], dict[str, Any]] = {}
        for record in store.generations():
            sample = samples.get(record.sample_id)
            latest[(record.sample_id, record.round)] = {
                "sample_id": record.sample_id,
                "base_id": sample.base_id if sample else None,
                "round": record.round,
                "status": record.status,
                "response": record.response,
                "error": record.error,
                "error_kind": record.error_kind,
                "subset": sample.subset if sample else None,
                "setting": sample.setting if sample else None,
                "variant": sample.variant if sample else None,
                "country": sample.country if sample else None,
                "language": sample.language if sample else None,
                "model": record.model,
                "finish_reason": record.finish_reason,
                "prompt_tokens": record.prompt_tokens,
                "completion_tokens": record.completion_tokens,
                "latency_s": record.latency_s,
                "attempts": record.attempts,
                "created_at": record.created_at,
                "key": record.key,
            }
    return [latest[k] for k in sorted(latest)]


def write_rows(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: ExportFormat, out: Path | None
) -> None:
    """Write `rows` (with exactly `columns`) as JSONL (to `out`, or stdout when `None`) or Parquet (a file)."""
    if fmt == "jsonl":
        if out is None:
            _write_jsonl(rows, columns, sys.stdout)
        else:
            with Path(out).open("w", encoding="utf-8") as handle:
                _write_jsonl(rows, columns, handle)
    elif fmt == "parquet":
        if out is None:
            raise ExportError("Parquet is binary: give --out FILE")
        import pyarrow as pa
        import pyarrow.parquet as pq

        if rows:
            table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
        else:
            table = pa.table({c: pa.array([], pa.string()) for c in columns})
        pq.write_table(table, str(out))
    else:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")


def _write_jsonl(rows: Sequence[dict[str, Any]], columns: Sequence[str], handle: IO[str]) -> None:
    for row in rows:
        handle.write(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False) + "\n")


def export_generations(run_dir: Path, fmt: ExportFormat, out: Path | None = None) -> int:
    """Export a run's generations (one row per sample and round); returns the number of rows written."""
    rows = generation_rows(run_dir)
    write_rows(rows, GENERATION_COLUMNS, fmt, out)
    return len(rows)
