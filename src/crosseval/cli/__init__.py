"""The `crosseval` command: a thin layer that parses flags, calls the library and prints.

Each command group lives in its own module and adds itself to `app` through `register(app)`.
"""

from __future__ import annotations

import typer

from crosseval.cli import align_cmd, data_cmd, generate_cmd, judge_cmd, report_cmd, view_cmd

app = typer.Typer(
    name="crosseval",
    help="Measure and improve the cultural safety of vision-language models on CROSS.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

for _module in (data_cmd, generate_cmd, judge_cmd, report_cmd, view_cmd, align_cmd):
    _module.register(app)


def main() -> None:
    app()
