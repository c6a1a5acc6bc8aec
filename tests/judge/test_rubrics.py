"""Rubric sets: the built-in one renders the prompts we expect (golden files); a user's set is validated."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from crosseval.engine.store import DIMENSIONS
from crosseval.judge.rubrics import DEFAULT_RUBRIC_DIR, RubricError, load_rubric_set
from tests.judge.fixtures import load_samples

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CROSSEVAL_UPDATE_GOLDEN") == "1"
RESPONSE = "You can find one at a large department store or order it online; both deliver within a week."


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing golden file {path}: run with CROSSEVAL_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"rendered prompt differs from {path}"


def _user_set(tmp_path: Path) -> Path:
    target = tmp_path / "rubric"
    shutil.copytree(DEFAULT_RUBRIC_DIR, target)
    return target


def test_golden_paper_prompts(cross_sample: Path) -> None:
    sample = next(s for s in load_samples(cross_sample) if s.id == "casa/multilingual/1/Japan_1")
    rubric = load_rubric_set()
    for dimension in DIMENSIONS:
        prompt = rubric.paper_prompt(
            query=sample.prompt_text, norm=sample.norm, response=RESPONSE, dimension=dimension
        )
        text = (
            f"[system]\n{rubric.system()}\n\n[user]\n{prompt}\n\n[re-ask]\n{rubric.paper_reask(dimension)}\n"
        )
        _check_golden(f"paper_{dimension}.txt", text)
        assert sample.prompt_text in prompt  # the translated query, as the model saw it
        assert sample.norm in prompt


def test_golden_single_prompt(cross_sample: Path) -> None:
    sample = next(s for s in load_samples(cross_sample) if s.id == "safeworld/english/1/India_1")
    rubric = load_rubric_set()
    prompt = rubric.single_prompt(query=sample.prompt_text, norm=sample.norm, response=RESPONSE)
    reask = rubric.single_reask(["education", "helpfulness"])
    _check_golden("single.txt", f"[system]\n{rubric.system()}\n\n[user]\n{prompt}\n\n[re-ask]\n{reask}\n")
    for dimension in DIMENSIONS:
        assert f'"{dimension}"' in prompt


def test_built_in_set_supports_both_protocols_with_a_stable_hash() -> None:
    first, second = load_rubric_set(), load_rubric_set(None, "paper")
    assert first.protocols == ("paper", "single")
    assert first.template_hash == second.template_hash
    assert len(first.template_hash) == 64


def test_user_set_hash_follows_its_files(tmp_path: Path) -> None:
    directory = _user_set(tmp_path)
    assert load_rubric_set(directory).template_hash == load_rubric_set().template_hash
    (directory / "notes.txt").write_text("not part of the set")
    assert load_rubric_set(directory).template_hash == load_rubric_set().template_hash
    criteria = directory / "criteria" / "education.md"
    criteria.write_text(criteria.read_text() + "\nBe strict.\n")
    changed = load_rubric_set(directory)
    assert changed.template_hash != load_rubric_set().template_hash
    assert changed.criteria["education"].endswith("Be strict.")


def test_paper_only_set_is_enough_for_paper(tmp_path: Path) -> None:
    directory = _user_set(tmp_path)
    shutil.rmtree(directory / "single")
    assert load_rubric_set(directory, "paper").protocols == ("paper",)
    with pytest.raises(RubricError, match=r"single/prompt\.j2: missing"):
        load_rubric_set(directory, "single")
    with pytest.raises(RubricError, match=r"single/reask\.j2: missing"):
        load_rubric_set(directory)


def test_missing_criteria_file_is_named(tmp_path: Path) -> None:
    directory = _user_set(tmp_path)
    (directory / "criteria" / "violation.md").unlink()
    with pytest.raises(RubricError, match=r"criteria/violation\.md: missing"):
        load_rubric_set(directory, "paper")


def test_missing_and_unknown_placeholders_are_named(tmp_path: Path) -> None:
    directory = _user_set(tmp_path)
    prompt = directory / "paper" / "prompt.j2"
    prompt.write_text(prompt.read_text().replace("{{ response }}", "{{ answer }}"))
    with pytest.raises(RubricError) as error:
        load_rubric_set(directory, "paper")
    message = str(error.value)
    assert str(prompt) in message
    assert "missing placeholder(s) {{ response }}" in message
    assert "unknown placeholder(s) answer" in message


def test_template_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    directory = _user_set(tmp_path)
    (directory / "single" / "reask.j2").write_text("Line one\n{% for x in missing %}unclosed\n")
    with pytest.raises(RubricError, match=r"single/reask\.j2, line \d+: template syntax error"):
        load_rubric_set(directory, "single")


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="does not exist"):
        load_rubric_set(tmp_path / "nowhere")
