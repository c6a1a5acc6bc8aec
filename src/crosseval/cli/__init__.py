"""The `crosseval` command: a thin layer that parses flags, calls the library and prints.

Each command group lives in its own module and adds itself to `app` through `register(app)`.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from crosseval.cli import align_cmd, data_cmd, generate_cmd, judge_cmd, report_cmd, view_cmd
from crosseval.cli.common import print_error
from crosseval.cli.helptext import examples
from crosseval.errors import UserError


class _Commands(TyperGroup):
    """The command group: an error the user can fix (`UserError`) ends any command with its message and
    hint and its exit code, never a traceback."""

    def invoke(self, ctx: Any) -> Any:  # a click Context, which typer vendors privately
        try:
            return super().invoke(ctx)
        except UserError as exc:
            print_error(f"{exc.message}\n{exc.hint}" if exc.hint else exc.message)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="crosseval",
    cls=_Commands,
    help="Measure and improve the cultural safety of vision-language models on CROSS.",
    epilog=examples(
        "crosseval run --model openai/gpt-4o-mini --judge openai/gpt-4o-2024-08-06 --limit 50"
        "  # generate, judge, print the table",
        "crosseval generate --model vllm/Qwen/Qwen2.5-VL-7B-Instruct --base-url http://gpu:8000/v1 "
        "--run-dir runs/qwen",
        "crosseval judge runs/qwen --judge openai/gpt-4o-2024-08-06",
        "crosseval report runs/gpt4o-mini runs/qwen --markdown",
    )
    + "\n\nEach command's --help lists its options, with examples.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

for _module in (data_cmd, generate_cmd, judge_cmd, report_cmd, view_cmd, align_cmd):
    _module.register(app)

COMMAND_ORDER = ("generate", "judge", "run", "report", "compare", "agreement", "view", "export")
"""The top-level commands in `crosseval --help`: the workflow's order, not the modules' (groups come after)."""
app.registered_commands.sort(
    key=lambda command: (
        COMMAND_ORDER.index(command.name) if command.name in COMMAND_ORDER else len(COMMAND_ORDER)
    )
)


def main() -> None:
    app()
