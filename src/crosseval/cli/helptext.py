"""How `--help` reads: the option panels each command's options are grouped into, and example epilogs.

Typer prints the default "Options" panel (with `--help`) first, then the named panels in the order their
options come; `with_option_groups` lists options in `PANEL_ORDER` so every command shows them alike.
Help texts are Rich markup: a `[word]` in them would vanish, so defaults go through `show_default`.
"""

from __future__ import annotations

PANEL_MODEL = "Model"
PANEL_SAMPLING = "Sampling"
PANEL_DATA = "Data selection"
PANEL_JUDGE = "Judge"
PANEL_TEACHER = "Teacher and judge"
PANEL_LEAKAGE = "Leakage guard"
PANEL_TRAINING = "Training"
PANEL_STATISTICS = "Statistics"
PANEL_CONCURRENCY = "Concurrency and retries"
PANEL_OUTPUT = "Output"

PANEL_ORDER = (
    PANEL_MODEL,
    PANEL_SAMPLING,
    PANEL_JUDGE,
    PANEL_TEACHER,
    PANEL_DATA,
    PANEL_LEAKAGE,
    PANEL_TRAINING,
    PANEL_STATISTICS,
    PANEL_CONCURRENCY,
    PANEL_OUTPUT,
)
"""The order panels are printed in, after the default "Options" panel."""

EXAMPLE_WIDTH = 76
"""Longest example line: an 80-column terminal shows each one unwrapped (the epilog is padded by 2)."""

COMMAND_PANEL_EVALUATE = "Evaluate a model"
COMMAND_PANEL_RESULTS = "Read and share results"
COMMAND_PANEL_DATA = "Data"
COMMAND_PANEL_ALIGN = "Improve a model"


def examples(*commands: str) -> str:
    """An epilog listing `commands` as a shell user types them, each in its own paragraph.

    A trailing `  # comment` on a command becomes a comment line above it. A command longer than
    `EXAMPLE_WIDTH` breaks before an option (a flag stays with its value) with a `\\` continuation, so
    it stays readable and pastable at 80 columns.
    """
    # Typer dedents the epilog with `inspect.cleandoc`, which measures the indent from the second line on:
    # an empty first line puts the unindented heading there, so the commands keep their indent.
    lines = ["", "Examples:"]
    for command in commands:
        text, _, comment = command.partition("  # ")
        lines.append("")
        if comment:
            lines.append(f"  # {comment.strip()}")
        lines += [f"  {line}" for line in _wrap_command(text)]
    return "\n".join(lines)


def _wrap_command(command: str) -> list[str]:
    """`command` in lines of at most `EXAMPLE_WIDTH - 2` characters, continuations indented by 4."""
    limit = EXAMPLE_WIDTH - 2
    lines: list[str] = []
    current = ""
    for chunk in _chunks(command.split()):
        candidate = f"{current} {chunk}" if current else chunk
        if current and chunk.startswith("-") and len(candidate) + len(" \\") > limit:
            lines.append(f"{current} \\")
            current = f"    {chunk}"
        else:
            current = candidate
    return [*lines, current]


def _chunks(words: list[str]) -> list[str]:
    """`words` with each option joined to its value (`--model openai/gpt-4o`), the units a line break keeps."""
    chunks: list[str] = []
    for word in words:
        if chunks and chunks[-1].startswith("-") and " " not in chunks[-1] and not word.startswith("-"):
            chunks[-1] += f" {word}"
        else:
            chunks.append(word)
    return chunks
