"""The `crosseval` app starts cheaply: registering the commands imports no library layer and no heavy package."""

from __future__ import annotations

from tests.helpers.imports import modules_after

HEAVY = ("sklearn", "scipy", "torch", "transformers", "trl", "peft", "matplotlib", "openai", "PIL", "numpy")


def test_help_imports_only_the_cli_layer() -> None:
    loaded = modules_after(
        "from typer.testing import CliRunner\n"
        "from crosseval.cli import app\n"
        "for args in ([], ['--help'], ['generate', '--help'], ['run', '--help'], ['train', 'sft', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code in (0, 2)"
    )
    crosseval = [m for m in loaded if m.startswith("crosseval.") and not m.startswith("crosseval.cli")]
    assert crosseval == ["crosseval.errors"]  # what the CLI catches: stdlib only
    assert [m for m in loaded if m.split(".")[0] in HEAVY] == []


def test_a_command_imports_what_it_uses() -> None:
    loaded = modules_after(
        "from typer.testing import CliRunner\n"
        "from crosseval.cli import app\n"
        "CliRunner().invoke(app, ['export', 'no-such-run'])"
    )
    assert "crosseval.engine.export" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("sklearn", "scipy", "torch", "matplotlib")] == []
