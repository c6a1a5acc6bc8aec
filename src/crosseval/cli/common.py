"""CLI helpers every command shares: consoles, failing cleanly, JSON output, loading data, `--config` files,
run directories and backends.

Library modules are imported inside the functions that need them: `crosseval --help` and a resumed run
must not pay for importing statistics, training or plotting libraries they never use.
"""

from __future__ import annotations

import difflib
import json
import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from crosseval.data.loaders import Benchmark, SampleFilter
    from crosseval.models.registry import BackendConfig
    from crosseval.models.types import ModelBackend

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

MIB = 1024 * 1024


def print_error(message: str) -> None:
    """Print `message` on stderr as an error, with any secret it holds redacted."""
    from crosseval.models.secrets import redact

    err_console.print(f"[bold red]error:[/] {escape(redact(message))}")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `message` on stderr and exit with `code` (no traceback)."""
    print_error(message)
    raise typer.Exit(code)


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


def default_run_dir(model: str, today: date | None = None) -> Path:
    """`runs/<date>-<model-slug>`, e.g. `runs/2026-11-20-openai-gpt-4o-mini`."""
    slug = re.sub(r"[^a-z0-9.]+", "-", model.lower()).strip("-") or "model"
    return Path("runs") / f"{(today or date.today()).isoformat()}-{slug}"


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


def backend_config(
    model: str,
    base_url: str | None,
    role: Literal["model", "judge"],
    *,
    flag_prefix: str = "",
    device: str | None = None,
    dtype: str | None = None,
    vllm_offline: bool = False,
    max_request_mb: float | None = None,
    **settings: Any,
) -> BackendConfig:
    """The `BackendConfig` for `model` from CLI options; an option its provider cannot use exits with code 2.

    `flag_prefix` (`judge-`) names the flags in messages; `settings` are further `BackendConfig` fields
    (`adapter`, `timeout_s`, `max_connections`, `batch_size`).
    """
    from crosseval.models.errors import ConfigError
    from crosseval.models.registry import BackendConfig, split_model

    try:
        provider, _ = split_model(model)
    except ConfigError as exc:
        fail(str(exc))
    local = provider == "hf" or (provider == "vllm" and vllm_offline)
    flag = f"--{flag_prefix}"
    if vllm_offline and provider != "vllm":
        fail(f"{flag}vllm-offline needs a vllm/ model, not {model!r}")
    if device is not None and provider != "hf":
        fail(f"{flag}device applies to hf/ models only (vLLM picks its devices itself), not {model!r}")
    if dtype is not None and not local:
        fail(f"{flag}dtype applies to hf/ models and vllm/ with {flag}vllm-offline, not {model!r}")
    if max_request_mb is not None and local:
        fail(f"{flag}max-request-mb applies to models behind an HTTP API, not the in-process {model!r}")
    if base_url is not None and local:
        fail(f"{flag}base-url applies to models behind an HTTP API, not the in-process {model!r}")
    extra: dict[str, Any] = {}
    if vllm_offline:
        extra["offline"] = True
    if max_request_mb is not None:
        extra["max_request_bytes"] = int(max_request_mb * MIB)
    return BackendConfig(
        model=model, base_url=base_url, role=role, device=device, dtype=dtype, extra=extra, **settings
    )


def create_backend_or_exit(config: BackendConfig, flag: str) -> ModelBackend:
    """`create_backend`, printing a `ConfigError` (unknown provider, missing key, bad option) and exiting 2."""
    from crosseval.models.errors import ConfigError
    from crosseval.models.registry import create_backend

    try:
        return create_backend(config)
    except ConfigError as exc:
        fail(f"{flag}: {exc}")
