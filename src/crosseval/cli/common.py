"""CLI helpers every command shares: consoles, failing cleanly, JSON output, loading data, `--config` files,
run directories and backends.

Library modules are imported inside the functions that need them: `crosseval --help` and a resumed run
must not pay for importing statistics, training or plotting libraries they never use.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from crosseval.errors import UserError

if TYPE_CHECKING:
    from crosseval.data.loaders import Benchmark, SampleFilter

T = TypeVar("T")

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(message: str) -> None:
    """Print `message` on stderr as an error, with any secret it holds redacted."""
    from crosseval.models.secrets import redact

    err_console.print(f"[bold red]error:[/] {escape(redact(message))}")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `message` on stderr and exit with `code` (no traceback)."""
    print_error(message)
    raise typer.Exit(code)


class UserErrorsEndCommands(TyperGroup):
    """The top-level command group: a `UserError` raised anywhere below ends the command here, once.

    Its message and hint go to stderr and the process exits with its `exit_code`; any other exception is
    a bug and keeps its traceback.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            fail(exc.message if exc.hint is None else f"{exc.message}\nhint: {exc.hint}", code=exc.exit_code)


EXIT_INTERRUPTED = 130


def run_interruptible(work: Coroutine[Any, Any, T], kept: str) -> T:
    """Runs `work` to its end; a Ctrl+C exits with 130, saying what is `kept` (nothing stored is lost)."""
    try:
        return asyncio.run(work)
    except KeyboardInterrupt:
        err_console.print(f"[yellow]interrupted[/]: {escape(kept)}")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def warn(message: str) -> None:
    """Print `message` on stderr as a warning; the command goes on."""
    err_console.print(f"[yellow]warning:[/] {escape(message)}")


def print_json(value: Any) -> None:
    """`value` as indented JSON on stdout, printed plainly (rich would wrap long lines and read markup)."""
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def load_benchmark_or_exit(
    data: list[Path] | None,
    images: Path | None = None,
    filters: SampleFilter | None = None,
    *,
    domain_overrides: Path | None = None,
) -> Benchmark:
    """`load_benchmark`, printing a `DataError` (file, record, field, problem) and exiting 1 instead of raising."""
    from crosseval.data.errors import DataError
    from crosseval.data.loaders import load_benchmark

    try:
        return load_benchmark(
            data or None, images_root=images, filters=filters, domain_overrides=domain_overrides
        )
    except DataError as exc:
        downloading = not data and exc.file.startswith(("http://", "https://"))
        hint = (
            " (to read a local copy instead: --data PATH, a clone of the CROSS repository)"
            if downloading
            else ""
        )
        fail(f"cannot load the benchmark: {exc}{hint}", code=1)


def default_run_dir(model: str) -> Path:
    """`runs/<model-slug>`, e.g. `runs/openai-gpt-4o-mini`: the same command finds its run again on any day.

    A run directory made for another model or other settings is refused when the command starts.
    """
    slug = re.sub(r"[^a-z0-9.]+", "-", model.lower()).strip("-")
    return Path("runs") / (slug if slug.strip(".") else "model")


def load_config_defaults(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Eager `--config` callback: the YAML's values become the defaults, so explicit flags still win.

    Keys are flag names with or without the leading dashes, in either `max-connections` or
    `max_connections` spelling.
    """
    if value is None:
        return None
    import yaml

    try:
        loaded = yaml.safe_load(value.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise typer.BadParameter(f"cannot read {value}: {exc}", param_hint="--config") from exc
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise typer.BadParameter(
            f"{value}: expected a mapping of flag names to values", param_hint="--config"
        )
    params = {p.name: p for p in ctx.command.params if p.name and p.name != "config"}
    # A key may name the parameter or any of its flags (`id` for `--id`, `max-side` for `--max-side`).
    aliases = {_config_key(opt): name for name, p in params.items() for opt in p.opts} | {
        n: n for n in params
    }
    defaults: dict[str, Any] = {}
    for raw_key, setting in loaded.items():
        name = aliases.get(_config_key(str(raw_key)))
        if name is None:
            close = difflib.get_close_matches(_config_key(str(raw_key)), sorted(params), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise typer.BadParameter(
                f"{value}: unknown setting {raw_key!r}; {hint}known: {', '.join(sorted(params))}",
                param_hint="--config",
            )
        # A repeatable flag takes a list; a single value is the list of that value.
        multiple = getattr(params[name], "multiple", False)
        defaults[name] = [setting] if multiple and not isinstance(setting, list) else setting
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


def _config_key(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")
