"""Human labels from a CSV file, validated against a run.

Format: a header row with `sample_id`, `dimension`, `label` and optionally `round`; one row per
label. `dimension` is a judge dimension (`awareness`, `education`, `violation`, `helpfulness`:
violation, not compliance, exactly as the judge is asked); `label` is 0 or 1. Without a `round`
column a label applies to the sample's only round; a run with several rounds needs the column.
Every problem is an error naming the file and line: nothing is silently dropped.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from crosseval.metrics.runs import RunData, RunInputError
from crosseval.vocabulary import DIMENSIONS, Dimension

REQUIRED_COLUMNS: tuple[str, ...] = ("sample_id", "dimension", "label")

LabelKey = tuple[str, int, Dimension]
"""(sample id, round, judge dimension)."""


class LabelsFileError(RunInputError):
    """The labels file cannot be used; the message names the file and line."""


def _dimension(text: str) -> Dimension | None:
    return next((d for d in DIMENSIONS if d == text), None)


def read_labels(path: Path, run: RunData) -> dict[LabelKey, int]:
    """The labels of `path`, keyed like judge verdicts, checked against the run's samples and rounds."""
    path = Path(path)
    if not path.is_file():
        raise LabelsFileError(f"{path}: no such labels file")
    rounds_of: dict[str, set[int]] = defaultdict(set)
    for generation in run.generations:
        rounds_of[generation.sample_id].add(generation.round)
    known_ids = {s.id for s in run.samples}
    labels: dict[LabelKey, int] = {}
    first_line: dict[LabelKey, int] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise LabelsFileError(
                    f"{path} line 1: missing column(s) {', '.join(missing)}; "
                    f"expected a header with {', '.join(REQUIRED_COLUMNS)} and optionally round"
                )
            has_round = "round" in columns
            for raw_row in reader:
                line = reader.line_num
                row = {(k or "").strip(): (v or "").strip() for k, v in raw_row.items() if isinstance(v, str)}
                key = _parse_row(row, path, line, has_round, known_ids, rounds_of, run)
                label_text = row.get("label", "")
                if label_text not in ("0", "1"):
                    raise LabelsFileError(f"{path} line {line}: label {label_text!r} must be 0 or 1")
                if key in labels:
                    raise LabelsFileError(
                        f"{path} line {line}: duplicate label for {key[0]} round {key[1]} {key[2]} "
                        f"(first given on line {first_line[key]})"
                    )
                labels[key] = int(label_text)
                first_line[key] = line
    except UnicodeDecodeError as exc:
        raise LabelsFileError(f"{path}: not UTF-8 text ({exc})") from exc
    except csv.Error as exc:
        raise LabelsFileError(f"{path}: not a readable CSV file ({exc})") from exc
    if not labels:
        raise LabelsFileError(f"{path}: no labels (only a header, or an empty file)")
    return labels


def _parse_row(
    row: dict[str, str],
    path: Path,
    line: int,
    has_round: bool,
    known_ids: set[str],
    rounds_of: dict[str, set[int]],
    run: RunData,
) -> LabelKey:
    sample_id = row.get("sample_id", "")
    if sample_id not in known_ids:
        raise LabelsFileError(
            f"{path} line {line}: unknown sample_id {sample_id!r} (not a sample of {run.run_dir})"
        )
    dimension = _dimension(row.get("dimension", ""))
    if dimension is None:
        given = row.get("dimension", "")
        hint = (
            " (label the judged dimension: violation = 1 - compliance)"
            if given.strip().lower() == "compliance"
            else ""
        )
        raise LabelsFileError(
            f"{path} line {line}: dimension {given!r} is not one of {', '.join(DIMENSIONS)}{hint}"
        )
    rounds = rounds_of.get(sample_id, set())
    if not rounds:
        raise LabelsFileError(
            f"{path} line {line}: {sample_id} has no response in {run.run_dir} to compare with"
        )
    if has_round and row.get("round", ""):
        text = row["round"]
        try:
            round_ = int(text)
        except ValueError:
            raise LabelsFileError(f"{path} line {line}: round {text!r} is not an integer") from None
        if round_ not in rounds:
            raise LabelsFileError(
                f"{path} line {line}: {sample_id} has no round {round_} in {run.run_dir} "
                f"(rounds: {', '.join(map(str, sorted(rounds)))})"
            )
        return (sample_id, round_, dimension)
    if len(rounds) > 1:
        raise LabelsFileError(
            f"{path} line {line}: {sample_id} has {len(rounds)} rounds in {run.run_dir}; "
            "give a round for each label (add a round column)"
        )
    return (sample_id, next(iter(rounds)), dimension)
