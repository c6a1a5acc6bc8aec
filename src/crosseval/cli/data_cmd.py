"""`crosseval data`: look at the benchmark (stats, list, show) and check data files (validate)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from crosseval.cli.common import console, err_console, fail, load_benchmark_or_exit, print_json, warn
from crosseval.cli.helptext import COMMAND_PANEL_DATA, examples
from crosseval.cli.options import (
    DataOption,
    DomainOverridesOption,
    ImagesOption,
    JsonOption,
    SampleSelection,
    with_option_groups,
)

if TYPE_CHECKING:
    from crosseval.data.records import Sample

data_app = typer.Typer(
    help="Inspect and validate CROSS data: counts, samples, and files of your own.",
    no_args_is_help=True,
    epilog=examples(
        "crosseval data stats  # 1,284 = 828 + 135 + 276 + 45, per country, language, domain",
        "crosseval data show casa/english/1/Japan_1",
        "crosseval data validate my_norms.json --images imgs/",
    ),
)


def _count_table(title: str, counts: dict[str, int], key_label: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(key_label)
    table.add_column("samples", justify="right")
    for key, value in counts.items():
        table.add_row(escape(key), str(value))
    return table


@data_app.command(
    "stats",
    epilog=examples(
        "crosseval data stats  # 1,284 = 828 + 135 + 276 + 45, per country, language, domain",
        "crosseval data stats --data path/to/CROSS --setting multilingual --json",
    ),
)
@with_option_groups
def stats(
    selection: SampleSelection,
    domain_overrides: DomainOverridesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Count samples by subset, setting, variant, country, language and domain."""
    from crosseval.data.stats import count_samples

    benchmark = selection.load(domain_overrides=domain_overrides)
    counts = count_samples(benchmark.samples)
    if as_json:
        counts["files"] = [
            {
                "path": str(f.path),
                "subset": f.subset,
                "setting": f.setting,
                "sha256": f.sha256,
                "records": f.records,
            }
            for f in benchmark.files
        ]
        print_json(counts)
        return
    console.print(f"[bold]{counts['total']}[/] samples, {counts['base_items']} base items")
    if not counts["total"]:
        warn("no samples match the filters")
        return
    console.print(_count_table("By subset and setting", counts["by_subset_setting"], "subset/setting"))
    console.print(_count_table("By variant (paraphrase block)", counts["by_variant"], "variant"))
    countries = Table(title="By country", title_justify="left")
    for column in ("country", "samples", "casa base items", "safeworld base items"):
        countries.add_column(column, justify="left" if column == "country" else "right")
    for name, total in counts["by_country"].items():
        base = counts["base_items_by_country"].get(name, {})
        countries.add_row(escape(name), str(total), str(base.get("casa", 0)), str(base.get("safeworld", 0)))
    console.print(countries)
    console.print(_count_table("By language", counts["by_language"], "language"))
    console.print(_count_table("By domain", counts["by_domain"], "domain"))


@data_app.command(
    "validate",
    epilog=examples(
        "crosseval data validate my_norms.json --images imgs/  # every bad record: file, position, field",
        "crosseval data validate path/to/CROSS",
    ),
)
def validate(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH", help="Folders with the upstream layout, or data files.", show_default=False
        ),
    ],
    images: ImagesOption = None,
    domain_overrides: DomainOverridesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check data files and report every problem with file, position, index and field; exit 1 on any error."""
    from crosseval.data.loaders import files_without_images_root, validate_files

    problems = validate_files(paths, images_root=images, domain_overrides=domain_overrides)
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        print_json([p.as_dict() for p in problems])
    else:
        for problem in problems:
            style = "red" if problem.severity == "error" else "yellow"
            err_console.print(f"[{style}]{escape(problem.describe())}[/]")
        warnings = len(problems) - len(errors)
        summary = f"{len(errors)} error(s), {warnings} warning(s)"
        if errors:
            err_console.print(f"[bold red]invalid:[/] {summary}")
        else:
            console.print(f"[bold green]valid:[/] {summary}")
        unchecked = files_without_images_root(paths, images)
        if unchecked:
            err_console.print(
                f"note: image URLs in {escape(', '.join(str(path) for path in unchecked))} were not checked "
                "(no images folder; they are downloaded when a command needs them): pass --images DIR to check "
                "local copies"
            )
    if errors:
        raise typer.Exit(1)


@data_app.command(
    "list",
    epilog=examples("crosseval data list --country Japan --subset casa --variant 1"),
)
@with_option_groups
def list_samples(
    selection: SampleSelection,
    domain_overrides: DomainOverridesOption = None,
    as_json: JsonOption = False,
) -> None:
    """List samples (id, index, subset, setting, variant, country, language, domain)."""
    from crosseval.data.stats import summaries

    benchmark = selection.load(domain_overrides=domain_overrides)
    rows = summaries(benchmark.samples)
    if as_json:
        print_json(rows)
        return
    if not rows:
        warn("no samples match the filters")
        return
    table = Table(show_edge=False)
    columns = ("id", "country", "language", "domain", "item")
    for column in columns:
        table.add_column(column, no_wrap=column == "id", overflow="fold")
    for row in rows:
        table.add_row(*(escape(str(row[c] if row[c] is not None else "")) for c in columns))
    console.print(table)


def _find(samples: list[Sample], wanted: str) -> list[Sample]:
    exact = [s for s in samples if s.id == wanted]
    if exact:
        return exact
    return [s for s in samples if wanted in (s.base_id, s.index)]


@data_app.command(
    "show",
    epilog=examples(
        "crosseval data show casa/english/1/Japan_1", "crosseval data show casa/multilingual/1/Iran_11 --json"
    ),
)
def show(
    sample_id: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="A sample id (casa/english/1/Japan_1), or a base id or index.",
            show_default=False,
        ),
    ],
    data: DataOption = None,
    images: ImagesOption = None,
    domain_overrides: DomainOverridesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one sample: its metadata, the prompt, the norm and every raw upstream field."""
    benchmark = load_benchmark_or_exit(data, images, None, domain_overrides=domain_overrides)
    found = _find(benchmark.samples, sample_id)
    if not found:
        close = difflib.get_close_matches(sample_id, [s.id for s in benchmark.samples], n=5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        fail(f"no sample with id {sample_id!r}{hint}", code=1)
    if len(found) > 1:
        fail(f"{sample_id!r} names {len(found)} samples; pick one id: {', '.join(s.id for s in found)}")
    sample = found[0]
    if as_json:
        print_json(sample.model_dump(mode="json"))
        return
    meta = Table.grid(padding=(0, 2))
    meta.add_column(style="bold", no_wrap=True)
    meta.add_column(overflow="fold")
    for label, value in (
        ("id", sample.id),
        ("base id", sample.base_id),
        ("subset / setting", f"{sample.subset} / {sample.setting}"),
        ("variant", str(sample.variant)),
        ("country", sample.country),
        ("language", f"{sample.language} ({sample.language_code or 'unknown code'})"),
        ("domain", sample.domain),
        ("item", sample.item or "-"),
        ("image", sample.image.local_path or sample.image.url),
        ("source", f"{sample.source_file}, record {sample.position}"),
    ):
        meta.add_row(label, escape(value))
    console.print(meta)
    console.rule("prompt sent to the model")
    console.print(escape(sample.prompt_text))
    if sample.prompt_text != sample.english_query:
        console.rule("English query")
        console.print(escape(sample.english_query))
    console.rule("reference norm")
    console.print(escape(sample.norm))
    console.rule("raw fields")
    for key, value in sample.raw.items():
        console.print(f"[bold]{escape(key)}[/]: {escape(str(value))}")


def register(app: typer.Typer) -> None:
    """Adds `crosseval data ...` to the top-level app."""
    app.add_typer(data_app, name="data", rich_help_panel=COMMAND_PANEL_DATA)
