"""`--help` reads well: every command's help renders at 80 and 120 columns, options sit in panels, metavars
follow one rule, and every example in an epilog parses as a real command line."""

from __future__ import annotations

import inspect
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
import typer
from rich.markup import render
from typer.testing import CliRunner

from crosseval.cli import app, helptext
from crosseval.cli.helptext import EXAMPLE_WIDTH, PANEL_ORDER, examples
from crosseval.cli.options import option, option_group, with_option_groups

ROOT = typer.main.get_command(app)


def _subcommands(command: Any) -> dict[str, Any]:
    """A group's commands by name; {} for a command (typer's click classes are its own, so no isinstance)."""
    return dict(getattr(command, "commands", {}))


def _commands(command: Any = ROOT, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in _subcommands(command).items():
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands())
GROUPS = {path for path, command in COMMANDS.items() if hasattr(command, "commands")}
LEAVES = {path: command for path, command in COMMANDS.items() if path not in GROUPS}


def _help(path: tuple[str, ...], width: int) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, (path, result.output)
    return result.output


def _panels(help_text: str) -> dict[str, list[str]]:
    """The option panels of a rendered help, title -> the options listed in it (their first flag)."""
    panels: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in help_text.splitlines():
        title = re.match(r"╭─ (.+?) ─", line)
        if title:
            current = panels.setdefault(title.group(1), [])
        elif line.startswith("╰"):
            current = None
        elif current is not None:
            cell = line.strip("│ ").lstrip("* ")
            if cell.startswith("--"):
                current.append(re.split(r"[ ,]", cell)[0])
    return panels


def test_the_command_tree_covers_every_group() -> None:
    assert sorted(GROUPS) == [(), ("align",), ("data",), ("train",)]
    assert {("generate",), ("run",), ("data", "stats"), ("align", "vqa-check"), ("train", "dpo")} <= set(
        LEAVES
    )


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda path: " ".join(path) or "crosseval")
def test_every_help_renders_without_cutting_an_option_name(path: tuple[str, ...], width: int) -> None:
    text = _help(path, width)
    assert "Usage: crosseval" in text
    assert "…" not in text  # rich cuts an option name it cannot fit with an ellipsis
    assert max(len(line) for line in text.splitlines()) <= width


@pytest.mark.parametrize("name", ["generate", "run"])
def test_generate_and_run_group_their_options_into_panels(name: str) -> None:
    panels = _panels(_help((name,), 120))
    expected = [
        helptext.PANEL_MODEL,
        helptext.PANEL_SAMPLING,
        helptext.PANEL_JUDGE,
        helptext.PANEL_DATA,
        helptext.PANEL_CONCURRENCY,
        helptext.PANEL_OUTPUT,
    ]
    if name == "generate":
        expected.remove(helptext.PANEL_JUDGE)
    assert list(panels) == ["Options", *expected]
    assert {"--model", "--base-url", "--adapter", "--device"} <= set(panels[helptext.PANEL_MODEL])
    assert {"--rounds", "--temperature", "--top-p", "--max-tokens", "--seed"} <= set(
        panels[helptext.PANEL_SAMPLING]
    )
    assert {"--data", "--subset", "--country", "--id", "--limit"} <= set(panels[helptext.PANEL_DATA])
    assert {"--max-connections", "--max-attempts", "--timeout", "--retry-errors"} <= set(
        panels[helptext.PANEL_CONCURRENCY]
    )
    assert {"--run-dir", "--progress"} <= set(panels[helptext.PANEL_OUTPUT])
    assert "--help" in panels["Options"] and "--config" in panels["Options"]
    if name == "run":
        assert {"--judge", "--judge-base-url", "--protocol", "--rubric"} <= set(panels[helptext.PANEL_JUDGE])
    listed = [flag for flags in panels.values() for flag in flags]
    options = [p.opts[0] for p in COMMANDS[(name,)].params if p.param_type_name == "option"]
    assert sorted(listed) == sorted([*options, "--help"])  # each option once, none lost


def test_panels_come_in_the_same_order_everywhere() -> None:
    for path in LEAVES:
        named = [title for title in _panels(_help(path, 120)) if title in PANEL_ORDER]
        assert named == sorted(named, key=PANEL_ORDER.index), path


def _parameters() -> Iterator[tuple[tuple[str, ...], Any]]:
    for path, command in COMMANDS.items():
        for parameter in command.params:
            yield path, parameter


def test_metavars_follow_one_rule() -> None:
    """A value is named by an upper-case word (N, DIR, MODEL); a flag shows none; an argument too."""
    for path, parameter in _parameters():
        where = f"{' '.join(path)} {parameter.name}"
        if parameter.param_type_name == "option" and parameter.is_flag:
            assert parameter.metavar == "", where
        else:
            assert parameter.metavar is not None and re.fullmatch(r"[A-Z][A-Z_]*", parameter.metavar), where


def _plain(markup: str) -> str:
    return markup.replace("\\[", "[")


def test_help_texts_lose_nothing_to_rich_markup() -> None:
    """Typer reads help as Rich markup: an unescaped `[word]` would silently vanish from the page."""
    for path, command in COMMANDS.items():
        texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
        for text in texts:
            assert render(text).plain == _plain(text), (path, text)


def test_help_paragraphs_have_no_hard_line_breaks() -> None:
    """Typer keeps a single newline inside a later paragraph, which then breaks mid-sentence on screen."""
    for path, command in COMMANDS.items():
        _, *later = inspect.cleandoc(command.help or "").split("\n\n")
        assert all("\n" not in paragraph for paragraph in later), path


def _example_lines(epilog: str) -> list[str]:
    """The commands of an `examples` epilog, continuation lines joined."""
    joined = epilog.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("crosseval ")]


def test_every_command_has_examples_that_fit_80_columns() -> None:
    for path, command in COMMANDS.items():
        epilog = command.epilog or ""
        assert _example_lines(epilog), f"{' '.join(path) or 'crosseval'} has no examples"
        assert all(len(line) <= EXAMPLE_WIDTH for line in epilog.splitlines()), path


def test_every_example_parses_as_a_command_line() -> None:
    """Each example names a real command with real options, every required one given: no stale examples."""
    for command in COMMANDS.values():
        for line in _example_lines(command.epilog or ""):
            words = shlex.split(line, comments=True)[1:]
            target = ROOT
            names = ["crosseval"]
            while _subcommands(target):
                names.append(words.pop(0))
                target = _subcommands(target)[names[-1]]
            target.make_context(" ".join(names), words)  # raises on an unknown or missing option


def test_examples_break_long_commands_before_an_option() -> None:
    text = examples(
        "crosseval generate --model vllm/Qwen/Qwen2.5-VL-7B-Instruct --base-url http://gpu:8000/v1 "
        "--run-dir runs/qwen  # a vLLM server",
        "crosseval data stats",
    )
    assert text.splitlines() == [
        "",
        "Examples:",
        "",
        "  # a vLLM server",
        "  crosseval generate --model vllm/Qwen/Qwen2.5-VL-7B-Instruct \\",
        "      --base-url http://gpu:8000/v1 --run-dir runs/qwen",
        "",
        "  crosseval data stats",
    ]


@option_group
@dataclass(frozen=True)
class Knobs:
    late: Annotated[int, option("--late", metavar="N", panel=helptext.PANEL_OUTPUT, help="Late.")] = 1
    early: Annotated[int, option("--early", metavar="N", panel=helptext.PANEL_MODEL, help="Early.")] = 2


def test_option_groups_list_their_options_panel_by_panel() -> None:
    @with_option_groups
    def command(
        name: Annotated[str, typer.Argument()],
        knobs: Knobs,
        middle: Annotated[
            int, option("--middle", metavar="N", panel=helptext.PANEL_SAMPLING, help="Middle.")
        ] = 3,
        plain: bool = False,
    ) -> None: ...

    assert list(inspect.signature(command).parameters) == ["name", "plain", "early", "middle", "late"]
