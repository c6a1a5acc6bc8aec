"""Export a run's judge verdicts: one row per sample, round and dimension (`crosseval export --what verdicts`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crosseval.engine.export import ExportError, ExportFormat, open_run_store, record_row, write_rows

VERDICT_COLUMNS: tuple[str, ...] = (
    "sample_id",
    "base_id",
    "round",
    "dimension",
    "status",
    "score",
    "reason",
    "raw",
    "error",
    "judge",
    "judge_config",
    "protocol",
    "subset",
    "setting",
    "variant",
    "country",
    "language",
    "prompt_tokens",
    "completion_tokens",
    "attempts",
    "created_at",
    "generation_key",
    "key",
)


def verdict_rows(run_dir: Path, judge_config: str | None = None) -> list[dict[str, Any]]:
    """The stored verdicts of one judge configuration, with their sample's metadata.

    `judge_config` defaults to the run's only configuration; a run judged by several needs it named.
    Rows are ordered by sample id, round and dimension. A verdict stays `score: None` unless its status
    is `ok`: failures are exported as failures.
    """
    with open_run_store(Path(run_dir)) as store:
        configs = store.judge_configs()
        if judge_config is None:
            if not configs:
                raise ExportError(
                    f"{run_dir} has no verdicts yet: run `crosseval judge {run_dir} --judge MODEL` first"
                )
            if len(configs) > 1:
                raise ExportError(
                    f"{run_dir} was judged by {len(configs)} judge configurations; choose one with --judge-config: "
                    + ", ".join(configs)
                )
            judge_config = configs[0]
        elif judge_config not in configs:
            known = ", ".join(configs) or "none"
            raise ExportError(
                f"{run_dir} has no verdicts from judge configuration {judge_config!r} (it has: {known})"
            )
        samples = {s.id: s for s in store.samples()}
        rows = [
            record_row(record, samples.get(record.sample_id), renamed={"judge_model": "judge"})
            for record in store.verdicts(judge_config)
        ]
    return rows


def export_verdicts(
    run_dir: Path, fmt: ExportFormat, out: Path | None = None, judge_config: str | None = None
) -> int:
    """Write a run's verdicts as JSONL (stdout when `out` is None) or Parquet; returns the rows written."""
    rows = verdict_rows(run_dir, judge_config)
    write_rows(rows, VERDICT_COLUMNS, fmt, out)
    return len(rows)
