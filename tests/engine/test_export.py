from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from crosseval.data.loaders import load_benchmark
from crosseval.engine.export import (
    GENERATION_COLUMNS,
    ExportError,
    ExportFormat,
    export_generations,
    generation_rows,
)
from crosseval.engine.store import GenerationRecord, RunStore, RunStoreError


@pytest.fixture
def run_dir(cross_sample: Path, tmp_path: Path) -> Path:
    """A run holding, for the first two casa samples, an answer and an error, plus a superseded row."""
    samples = load_benchmark([cross_sample / "casa" / "multilingual.json"], images_root=tmp_path).samples[:2]
    run = tmp_path / "run"
    with RunStore.open_for_writing(run, command="test") as store:
        store.put_samples(samples)
        store.put_generation(
            GenerationRecord(
                "old", samples[0].id, 1, "openai/m", "error", error="server: old", created_at="2026-01-01"
            )
        )
        store.put_generation(
            GenerationRecord(
                "k1", samples[0].id, 1, "openai/m", "ok", response="Una respuesta", prompt_tokens=12,
                completion_tokens=3, latency_s=0.5, finish_reason="stop", created_at="2026-01-01",
            )
        )  # fmt: skip
        store.put_generation(
            GenerationRecord(
                "k2", samples[1].id, 2, "openai/m", "error", error="content_filter 400: refused",
                error_kind="content_filter", attempts=1,
            )
        )  # fmt: skip
    return run


def test_rows_carry_sample_metadata_and_keep_the_latest_row_per_sample_and_round(run_dir: Path) -> None:
    rows = generation_rows(run_dir)

    assert [(r["sample_id"], r["round"], r["key"]) for r in rows] == [
        ("casa/multilingual/1/Japan_1", 1, "k1"),
        ("casa/multilingual/1/Japan_2", 2, "k2"),
    ]
    ok, error = rows
    assert ok["status"] == "ok" and ok["response"] == "Una respuesta" and ok["error"] is None
    assert (ok["subset"], ok["setting"], ok["country"], ok["language"]) == (
        "casa",
        "multilingual",
        "Japan",
        "Japanese",
    )
    assert (ok["prompt_tokens"], ok["completion_tokens"], ok["latency_s"], ok["model"]) == (
        12,
        3,
        0.5,
        "openai/m",
    )
    assert error["status"] == "error" and error["response"] is None
    assert error["error_kind"] == "content_filter" and "refused" in error["error"]


def test_jsonl_to_a_file_and_to_stdout(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gen.jsonl"
    assert export_generations(run_dir, "jsonl", out) == 2
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [tuple(line) for line in lines] == [GENERATION_COLUMNS] * 2

    export_generations(run_dir, "jsonl")
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == lines


def test_parquet_round_trips(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "gen.parquet"
    export_generations(run_dir, "parquet", out)
    table = pq.read_table(out)
    assert table.column_names == list(GENERATION_COLUMNS)
    assert table.column("response").to_pylist() == ["Una respuesta", None]


def test_parquet_needs_a_file_and_a_run_needs_a_store(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="--out"):
        export_generations(run_dir, "parquet")
    with pytest.raises(RunStoreError, match="no run store"):
        export_generations(tmp_path / "nowhere", "jsonl")


def test_the_output_folder_is_created_and_an_unwritable_output_is_an_export_error(
    run_dir: Path, tmp_path: Path
) -> None:
    outputs: tuple[tuple[ExportFormat, str], ...] = (("jsonl", "rows.jsonl"), ("parquet", "rows.parquet"))
    for fmt, name in outputs:
        out = tmp_path / "new" / fmt / name
        assert export_generations(run_dir, fmt, out) == 2
        assert out.is_file()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ExportError, match=f"cannot write {blocker / 'rows.jsonl'}"):
        export_generations(run_dir, "jsonl", blocker / "rows.jsonl")
