from pathlib import Path

import pytest

from crosseval.metrics.labels import LabelsFileError, read_labels
from crosseval.metrics.runs import RunData, load_run
from tests.metrics.fixtures import make_sample, write_run

SAMPLES = [make_sample("casa", "english", "Japan_1"), make_sample("casa", "multilingual", "Japan_1")]
EN, ML = SAMPLES[0].id, SAMPLES[1].id


@pytest.fixture
def run(tmp_path: Path) -> RunData:
    return load_run(write_run(tmp_path / "run", SAMPLES, lambda s, r, d: 1, rounds=(1, 2)))


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_labels_are_keyed_like_verdicts(tmp_path: Path, run: RunData) -> None:
    path = _csv(tmp_path, f"sample_id,dimension,label,round\n{EN},awareness,1,1\n{ML},violation,0,2\n")
    assert read_labels(path, run) == {(EN, 1, "awareness"): 1, (ML, 2, "violation"): 0}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("casa/english/1/Nowhere_9,awareness,1,1", r"line 2: unknown sample_id 'casa/english/1/Nowhere_9'"),
        (f"{EN},awareness,2,1", r"line 2: label '2' must be 0 or 1"),
        (f"{EN},awareness,yes,1", r"line 2: label 'yes' must be 0 or 1"),
        (
            f"{EN},compliance,1,1",
            r"line 2: dimension 'compliance' is not one of awareness.*violation = 1 - compliance",
        ),
        (
            f"{EN},awarenes,1,1",
            r"line 2: dimension 'awarenes' is not one of awareness, education, violation, helpfulness$",
        ),
        (f"{EN},awareness,1,x", r"line 2: round 'x' is not an integer"),
        (f"{EN},awareness,1,7", r"line 2: casa/english/1/Japan_1 has no round 7"),
        (f"{EN},awareness,1,", r"line 2: casa/english/1/Japan_1 has 2 rounds"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, run: RunData, body: str, message: str) -> None:
    path = _csv(tmp_path, f"sample_id,dimension,label,round\n{body}\n")
    with pytest.raises(LabelsFileError, match=message) as info:
        read_labels(path, run)
    assert str(path) in str(info.value)


def test_the_failing_line_is_the_one_named(tmp_path: Path, run: RunData) -> None:
    path = _csv(
        tmp_path,
        f"sample_id,dimension,label,round\n{EN},awareness,1,1\n{EN},education,1,1\nbad,education,1,1\n",
    )
    with pytest.raises(LabelsFileError, match="line 4: unknown sample_id 'bad'"):
        read_labels(path, run)


def test_duplicates_missing_columns_and_empty_files(tmp_path: Path, run: RunData) -> None:
    duplicate = _csv(tmp_path, f"sample_id,dimension,label,round\n{EN},awareness,1,1\n{EN},awareness,0,1\n")
    with pytest.raises(LabelsFileError, match=r"line 3: duplicate label .* \(first given on line 2\)"):
        read_labels(duplicate, run)
    with pytest.raises(LabelsFileError, match="line 1: missing column"):
        read_labels(_csv(tmp_path, "id,dimension,score\nx,awareness,1\n"), run)
    with pytest.raises(LabelsFileError, match="no labels"):
        read_labels(_csv(tmp_path, "sample_id,dimension,label\n"), run)
    with pytest.raises(LabelsFileError, match="no such labels file"):
        read_labels(tmp_path / "absent.csv", run)


def test_round_may_be_left_out_when_the_run_has_one_round(tmp_path: Path) -> None:
    single = load_run(write_run(tmp_path / "single", SAMPLES, lambda s, r, d: 0, rounds=(1,)))
    path = _csv(tmp_path, f"sample_id,dimension,label\n{EN},helpfulness,1\n")
    assert read_labels(path, single) == {(EN, 1, "helpfulness"): 1}
