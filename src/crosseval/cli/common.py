"""CLI pieces shared by every command that reads the benchmark: options, consoles, failing cleanly.

Usage in a command module:

    def run(data: DataOption = None, images: ImagesOption = None, subset: SubsetOption = None, ...) -> None:
        benchmark = load_benchmark_or_exit(data, images, make_filter(subset=subset, ...))
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from crosseval.data.errors import DataError
from crosseval.data.loaders import Benchmark, SampleFilter, load_benchmark

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

DataOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--data",
        metavar="PATH",
        help="A folder with the upstream layout (data/<subset>/<setting>.json, images/<subset>/...) or a data "
        "file (JSON array or JSONL); repeatable. Default: the upstream CROSS release, downloaded and cached.",
        show_default=False,
    ),
]
ImagesOption = Annotated[
    Path | None,
    typer.Option(
        "--images",
        metavar="DIR",
        help="Images root (<root>/<subset>/<name>) for data files given alone.",
        show_default=False,
    ),
]
SubsetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--subset",
        metavar="SUBSET",
        help="Keep this subset (casa, safeworld); repeatable.",
        show_default=False,
    ),
]
SettingOption = Annotated[
    list[str] | None,
    typer.Option(
        "--setting",
        metavar="SETTING",
        help="Keep this setting (english, multilingual); repeatable.",
        show_default=False,
    ),
]
CountryOption = Annotated[
    list[str] | None,
    typer.Option(
        "--country",
        metavar="COUNTRY",
        help="Keep this country (e.g. 'Saudi Arabia'); repeatable.",
        show_default=False,
    ),
]
LanguageOption = Annotated[
    list[str] | None,
    typer.Option(
        "--language",
        metavar="LANGUAGE",
        help="Keep this language (name or ISO code, e.g. Persian, fa); repeatable.",
        show_default=False,
    ),
]
VariantOption = Annotated[
    list[int] | None,
    typer.Option(
        "--variant", metavar="N", help="Keep this paraphrase block (1-3); repeatable.", show_default=False
    ),
]
IdOption = Annotated[
    list[str] | None,
    typer.Option(
        "--id",
        metavar="ID",
        help="Keep this sample id or base id (casa/Japan_1 keeps all its variants); repeatable.",
        show_default=False,
    ),
]
LimitOption = Annotated[
    int | None,
    typer.Option(
        "--limit",
        metavar="N",
        min=0,
        help="Keep the first N samples after the other filters.",
        show_default=False,
    ),
]
DomainOverridesOption = Annotated[
    Path | None,
    typer.Option(
        "--domain-overrides",
        metavar="FILE",
        help="JSON object or CSV mapping id, base id or index to a domain (shopping, meal_planning, outdoor_activities).",
        show_default=False,
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `message` on stderr and exit with `code` (no traceback)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def make_filter(
    *,
    subset: list[str] | None = None,
    setting: list[str] | None = None,
    country: list[str] | None = None,
    language: list[str] | None = None,
    variant: list[int] | None = None,
    ids: list[str] | None = None,
    limit: int | None = None,
) -> SampleFilter | None:
    """A `SampleFilter` from the filter options, or None when none is given; bad values exit with code 2."""
    if not any(value for value in (subset, setting, country, language, variant, ids)) and limit is None:
        return None
    try:
        return SampleFilter(
            subsets=subset or None,
            settings=setting or None,
            countries=country or None,
            languages=language or None,
            variants=variant or None,
            ids=ids or None,
            limit=limit,
        )
    except ValueError as exc:
        fail(str(exc))


def load_benchmark_or_exit(
    data: list[Path] | None,
    images: Path | None = None,
    filters: SampleFilter | None = None,
    *,
    domain_overrides: Path | None = None,
) -> Benchmark:
    """`load_benchmark`, printing a `DataError` (file, record, field, problem) and exiting 1 instead of raising."""
    try:
        return load_benchmark(
            data or None, images_root=images, filters=filters, domain_overrides=domain_overrides
        )
    except DataError as exc:
        fail(f"cannot load the benchmark: {exc}", code=1)
