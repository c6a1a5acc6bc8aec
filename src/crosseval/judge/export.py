"""Export a run's judge verdicts: one row per sample, round and dimension (`crosseval export --what verdicts`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crosseval.engine.export import ExportError, ExportFormat, write_rows
from crosseval.engine.store import RunStore

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
    run_dir = Path(run_dir)
    if not RunStore.exists(run_dir):
        raise ExportError(f"{run_dir}: no run store here (expected {run_dir / 'run.sqlite'})")
    with RunStore.open(run_dir) as store:
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
        rows: list[dict[str, Any]] = []
        for record in store.verdicts(judge_config):
            sample = samples.get(record.sample_id)
            rows.append(
                {
                    "sample_id": record.sample_id,
                    "base_id": sample.base_id if sample else None,
                    "round": record.round,
                    "dimension": record.dimension,
                    "status": record.status,
                    "score": record.score,
                    "reason": record.reason,
                    "raw": record.raw,
                    "error": record.error,
                    "judge": record.judge_model,
                    "judge_config": record.judge_config,
                    "protocol": record.protocol,
                    "subset": sample.subset if sample else None,
                    "setting": sample.setting if sample else None,
                    "variant": sample.variant if sample else None,
                    "country": sample.country if sample else None,
                    "language": sample.language if sample else None,
                    "prompt_tokens": record.prompt_tokens,
                    "completion_tokens": record.completion_tokens,
                    "attempts": record.attempts,
                    "created_at": record.created_at,
                    "generation_key": record.generation_key,
                    "key": record.key,
                }
            )
    return rows


def export_verdicts(
    run_dir: Path, fmt: ExportFormat, out: Path | None = None, judge_config: str | None = None
) -> int:
    """Write a run's verdicts as JSONL (stdout when `out` is None) or Parquet; returns the rows written."""
    rows = verdict_rows(run_dir, judge_config)
    write_rows(rows, VERDICT_COLUMNS, fmt, out)
    return len(rows)
