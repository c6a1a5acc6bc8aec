import json
from pathlib import Path

import pytest

from crosseval.engine.store import GenerationRecord, RunStore
from crosseval.errors import UserError
from crosseval.metrics.runs import (
    RunInputError,
    choose_judge_config,
    judge_choices,
    judge_description,
    load_run,
    model_name,
    resolve_judge_config,
)
from tests.metrics.fixtures import constant, make_sample, write_run

SAMPLES = [make_sample("casa", "english", "Japan_1")]


def test_paths_that_are_not_runs_are_refused(tmp_path: Path) -> None:
    assert issubclass(RunInputError, UserError)
    with pytest.raises(RunInputError, match="no such run directory"):
        load_run(tmp_path / "absent")
    with pytest.raises(RunInputError, match="not a run directory"):
        load_run(tmp_path)


def test_a_run_without_responses_is_refused(tmp_path: Path) -> None:
    with RunStore.open_for_writing(tmp_path / "run", command="test") as store:
        store.put_samples(SAMPLES)
    with pytest.raises(RunInputError, match="no responses"):
        load_run(tmp_path / "run")


def test_a_run_without_verdicts_says_to_judge_it(tmp_path: Path) -> None:
    with RunStore.open_for_writing(tmp_path / "run", command="test") as store:
        store.put_samples(SAMPLES)
        store.put_generation(GenerationRecord("g", SAMPLES[0].id, 1, "openai/m", "ok", response="r"))
    run = load_run(tmp_path / "run")
    with pytest.raises(RunInputError, match="no judge verdicts; run `crosseval judge"):
        choose_judge_config(run)
    assert model_name(run) == "openai/m"


def test_judge_config_choice(tmp_path: Path) -> None:
    run_dir = write_run(
        tmp_path / "run", SAMPLES, constant(1), judge_config="first", verdict_time="2026-01-01"
    )
    only = choose_judge_config(load_run(run_dir))
    assert (only.config, only.reason) == ("first", "only")
    write_run(run_dir, SAMPLES, constant(0), judge_config="second", verdict_time="2026-02-01")
    run = load_run(run_dir)
    each = judge_choices(run)
    assert [(c.config, c.reason, c.available) for c in each] == [
        ("first", "each", ("first", "second")),
        ("second", "each", ("first", "second")),
    ]
    with pytest.raises(RunInputError, match=r"judged with 2 judge configs \(first, second\); choose one"):
        choose_judge_config(run)
    assert choose_judge_config(run, "first").reason == "requested"
    assert choose_judge_config(run, "sec").config == "second"
    with pytest.raises(RunInputError, match="no verdicts for judge config 'third'; available: first, second"):
        choose_judge_config(run, "third")
    description = judge_description(run, each[1])
    assert (description.model, description.protocol, description.chosen) == (
        "openai/judge-1",
        "paper",
        "each",
    )
    assert description.as_dict()["template_hash"] == "sha256:fixture"


def test_an_exact_judge_config_wins_over_a_longer_one_it_begins(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", SAMPLES, constant(1), judge_config="judge")
    write_run(run_dir, SAMPLES, constant(0), judge_config="judge-v2")
    run = load_run(run_dir)
    assert resolve_judge_config(run, "judge") == "judge"
    assert resolve_judge_config(run, "judge-") == "judge-v2"
    with pytest.raises(RunInputError, match="'j' is ambiguous; it begins judge, judge-v2") as ambiguous:
        resolve_judge_config(run, "j")
    assert ambiguous.value.hint == "give more of the judge config's id"


def test_judge_description_keeps_the_manifest_entry_in_order(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", SAMPLES, constant(1), judge_config="c")
    manifest = {"judges": {"c": {"rubric": "r", "model": "openai/judge-9", "config": "stale"}}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    run = load_run(run_dir)
    described = judge_description(run, choose_judge_config(run)).as_dict()
    assert list(described) == ["rubric", "model", "config", "protocol", "chosen", "available"]
    assert (described["model"], described["config"], described["protocol"]) == (
        "openai/judge-9",
        "c",
        "paper",
    )


def test_model_name_from_manifest_string_or_identity(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", SAMPLES, constant(1), model="openai/gpt-x")
    assert model_name(load_run(run_dir)) == "openai/gpt-x"  # identity {"provider", "model"}
    (run_dir / "manifest.json").write_text(json.dumps({"generation": {"model": "vllm/Qwen/Qwen2.5-VL"}}))
    assert model_name(load_run(run_dir)) == "vllm/Qwen/Qwen2.5-VL"


def test_model_name_says_which_adapter_was_loaded(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", SAMPLES, constant(1))
    manifest = {"generation": {"model": "hf/tiny", "adapter": "adapters/sft"}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    assert model_name(load_run(run_dir)) == "hf/tiny + adapters/sft"
    (run_dir / "manifest.json").write_text(json.dumps({"generation": {"model": "hf/tiny", "adapter": None}}))
    assert model_name(load_run(run_dir)) == "hf/tiny"


def test_malformed_manifest_names_the_file(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", SAMPLES, constant(1))
    (run_dir / "manifest.json").write_text("{not json")
    with pytest.raises(RunInputError, match=r"manifest\.json: not valid JSON"):
        load_run(run_dir)
