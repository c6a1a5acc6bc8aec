"""Shared CLI options: option groups expand into typer options, constants match the library, backend options."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from crosseval.cli.options import (
    DEFAULT_MAX_IMAGE_SIDE,
    PROTOCOL_NAMES,
    ModelOptions,
    RetryOptions,
    SampleSelection,
    option_group,
    with_option_groups,
)


@option_group
@dataclass(frozen=True)
class Pair:
    first: Annotated[str, typer.Option("--first")]
    second: Annotated[int, typer.Option("--second", min=1)] = 2


def test_a_group_becomes_the_commands_own_options_and_comes_back_as_one_value() -> None:
    seen: list[tuple[str, Pair, bool]] = []

    @with_option_groups
    def command(name: Annotated[str, typer.Argument()], pair: Pair, loud: bool = False) -> None:
        seen.append((name, pair, loud))

    assert list(inspect.signature(command).parameters) == ["name", "first", "second", "loud"]
    app = typer.Typer()
    app.command()(command)
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["command", "x", "--first", "a", "--loud"])
    assert result.exit_code == 0, result.output
    assert seen == [("x", Pair(first="a", second=2), True)]

    bad = CliRunner().invoke(app, ["command", "x", "--first", "a", "--second", "0"])
    assert bad.exit_code == 2
    missing = CliRunner().invoke(app, ["command", "x"])
    assert missing.exit_code == 2 and "--first" in missing.output


def test_groups_that_repeat_a_parameter_are_refused() -> None:
    def command(pair: Pair, first: str = "") -> None: ...

    with pytest.raises(TypeError, match="first"):
        with_option_groups(command)


def test_option_group_needs_a_dataclass() -> None:
    with pytest.raises(TypeError, match="dataclass"):
        option_group(int)


def test_constants_written_in_the_cli_match_the_library() -> None:
    from crosseval.data.images import ImageOptions
    from crosseval.judge.rubrics import PROTOCOLS

    assert ImageOptions().max_side == DEFAULT_MAX_IMAGE_SIDE
    assert tuple(PROTOCOL_NAMES) == tuple(PROTOCOLS)


def test_model_options_build_the_generation_and_backend_configs() -> None:
    options = ModelOptions(
        model="hf/some/dir",
        max_image_side=512,
        temperature=0.5,
        device="cpu",
        dtype="float32",
        batch_size=3,
        max_connections=5,
    )
    retry = RetryOptions(max_attempts=2, timeout=9.0, retry_base_delay=0.5)
    generation = options.generation_config(retry, dry_run=True)
    assert generation.image_options.max_side == 512
    assert generation.params.temperature == 0.5
    assert (generation.retry.max_attempts, generation.retry.attempt_timeout_s) == (2, 9.0)
    assert generation.retry.base_delay_s == 0.5 and generation.dry_run
    backend = options.backend_config(retry)
    assert (backend.model, backend.role, backend.device, backend.dtype) == (
        "hf/some/dir",
        "model",
        "cpu",
        "float32",
    )
    assert (backend.timeout_s, backend.max_connections, backend.batch_size) == (9.0, 5, 3)
    assert (
        ModelOptions(model="vllm/m").generation_config(retry).image_options.max_side == DEFAULT_MAX_IMAGE_SIDE
    )


def test_sample_selection_without_filters_has_no_filter(cross_sample: Path) -> None:
    assert SampleSelection().filters() is None
    selection = SampleSelection(data=[cross_sample / "casa" / "english.json"], country=["Iran"], limit=2)
    samples = selection.load().samples
    assert len(samples) == 2 and {s.country for s in samples} == {"Iran"}
