"""The self-contained HTML report: leaderboard, charts, manifest and a sample browser in one file.

The page opens with no network: CSS, JavaScript, charts (inline SVG from `crosseval.report.charts`)
and data are inlined. Samples, responses and verdicts travel as JSON in a
`<script type="application/json">` block and the browser renders only the visible page of samples,
so a full benchmark run (1,284 samples x 3 rounds x several models) stays responsive. Thumbnails are
embedded once per sha256. Large payloads are gzip-compressed and base64-encoded (the browser
inflates them with `DecompressionStream`), which keeps the full benchmark well under 30 MB.

The leaderboard, notes and charts render the typed `crosseval.report.model.Report`: a row per run
and judge configuration. The sample browser has a column per (run, model, judge configuration) with
that configuration's verdicts. Its script declares no vocabulary of its own: dimensions, statuses,
their titles and notes, and the pass rule arrive in its data (`crosseval.vocabulary.vocabulary_for_report`).

Everything from a run is untrusted text (model answers above all): Jinja autoescapes the markup,
the JSON block escapes `<`, `>` and `&`, and the script inserts data only as text nodes.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from PIL import Image, UnidentifiedImageError

from crosseval import __version__
from crosseval.atomic import atomic_write
from crosseval.data.records import Sample
from crosseval.engine.manifest import ManifestError, read_manifest
from crosseval.engine.store import GenerationRecord, RunStore, StoredImage, VerdictRecord
from crosseval.errors import EXIT_USAGE, UserError
from crosseval.metrics.aggregate import RateSummary
from crosseval.metrics.observations import latest_verdicts
from crosseval.report.charts import Estimate, dumbbell_grid, grouped_bar_chart, heatmap
from crosseval.report.model import Report, distinct_labels
from crosseval.report.tables import (
    COMPLIANCE_NOTE,
    SETTING_NAMES,
    SUBSET_TITLES,
    UNSCORED_BY_LANGUAGE_TITLE,
    unscored_language_rows,
)
from crosseval.vocabulary import (
    DIMENSION_TITLES,
    REPORTED_DIMENSIONS,
    UNSCORED_STATUSES,
    vocabulary_for_report,
)

COMPRESS_ABOVE_BYTES = 2_000_000
"""Payloads larger than this are gzip+base64 encoded unless the caller decides explicitly."""
_RAW_TEXT_LIMIT = 4000
_SECRET_KEY_PARTS = ("api_key", "apikey", "token", "secret", "password", "authorization")


class ReportInputError(UserError):
    """A run directory that cannot be reported on; the message names the path and what is wrong."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class ModelEntry:
    """One model's results in one run: a column of the sample browser."""

    key: str
    label: str
    model: str
    run_dir: Path
    judge_config: str | None
    """The configuration whose verdicts the column shows; None for a run not judged yet."""


@dataclass(frozen=True)
class _RunContents:
    run_dir: Path
    samples: list[Sample]
    image_sha256: dict[str, str]
    generations: list[GenerationRecord]
    verdicts: dict[str, list[VerdictRecord]]
    """Judge configuration -> its latest verdicts."""
    images: dict[str, StoredImage]
    manifest: dict[str, Any]


def write_html_report(
    run_dirs: Sequence[Path],
    out_path: Path,
    *,
    report: Report | None = None,
    judge_config: str | None = None,
    thumbnail_px: int = 256,
    compress: bool | None = None,
) -> Path:
    """Write the report for `run_dirs` to `out_path` (atomically) and return the path.

    `report` is `crosseval.report.summary.build_report`'s; it is built when not given.
    `compress=None` compresses the embedded data only when it is large.
    """
    html = render_html_report(
        run_dirs, report=report, judge_config=judge_config, thumbnail_px=thumbnail_px, compress=compress
    )
    out_path = Path(out_path)
    atomic_write(out_path, html)
    return out_path


def render_html_report(
    run_dirs: Sequence[Path],
    *,
    report: Report | None = None,
    judge_config: str | None = None,
    thumbnail_px: int = 256,
    compress: bool | None = None,
    live_version: str | None = None,
    poll_ms: int = 2000,
) -> str:
    """The report page as one HTML string.

    `live_version` marks a page served by `crosseval view`: the page then polls `/version` every
    `poll_ms` milliseconds and reloads when the value differs from this one.
    """
    if not run_dirs:
        raise ReportInputError("no run directory given")
    if thumbnail_px < 16:
        raise ReportInputError(f"thumbnail_px must be at least 16, got {thumbnail_px}")
    for run_dir in run_dirs:
        _check_run_dir(Path(run_dir))
    if report is None:
        from crosseval.report.summary import build_report

        report = build_report([Path(d) for d in run_dirs], judge_config=judge_config)
    runs = [_read_run(Path(d)) for d in run_dirs]
    entries = _model_entries(runs, report)
    payload = _browser_payload(runs, entries)
    images = _thumbnail_payload(runs, thumbnail_px)
    data_json = _json_for_script(payload)
    if compress is None:
        compress = len(data_json) > COMPRESS_ABOVE_BYTES
    if compress:
        packed = base64.b64encode(gzip.compress(data_json.encode("utf-8"), compresslevel=6, mtime=0))
        data_json = _json_for_script({"gzip_base64": packed.decode("ascii")})
    config = {"live": live_version is not None, "version": live_version, "poll_ms": poll_ms}
    context = {
        "title": "CROSS cultural-safety report",
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "crosseval_version": __version__,
        "entries": entries,
        "compliance_rule": COMPLIANCE_NOTE,
        "leaderboard": _leaderboard(report),
        "unscored": _unscored_notes(report),
        "unscored_by_language": _unscored_by_language(report),
        "notices": list(report.notices),
        "charts": _charts(report),
        "manifests": [_manifest_view(r, entries) for r in runs],
        "subsets": [SUBSET_TITLES[s] for s in ("casa", "safeworld")],
        "settings": [SETTING_NAMES[s] for s in ("english", "multilingual")],
        "dimensions": [DIMENSION_TITLES[d] for d in REPORTED_DIMENSIONS],
        "config_json": Markup(_json_for_script(config)),
        "data_json": Markup(data_json),
        "images_json": Markup(_json_for_script(images)),
        "css": Markup(_asset("report.css")),
        "js": Markup(_asset("report.js")),
        "live": live_version is not None,
    }
    return _environment().get_template("report.html.j2").render(**context)


# reading runs -------------------------------------------------------------------------------------


def _check_run_dir(run_dir: Path) -> None:
    if not run_dir.is_dir():
        raise ReportInputError(f"{run_dir}: not a directory")
    if not RunStore.exists(run_dir):
        raise ReportInputError(f"{run_dir}: no run.sqlite here; is this a crosseval run directory?")


def _read_run(run_dir: Path) -> _RunContents:
    _check_run_dir(run_dir)
    try:
        manifest = read_manifest(run_dir)
    except ManifestError as exc:
        raise ReportInputError(str(exc)) from exc
    with RunStore.open_for_reading(run_dir) as store:
        verdicts: dict[str, list[VerdictRecord]] = defaultdict(list)
        for verdict in latest_verdicts(store.verdicts()):
            verdicts[verdict.judge_config].append(verdict)
        shas = store.sample_image_sha256()
        stored = store.images()
        images = {sha: stored[sha] for sha in set(shas.values()) if sha in stored}
        return _RunContents(
            run_dir=run_dir,
            samples=store.samples(),
            image_sha256=shas,
            generations=store.generations(),
            verdicts=dict(verdicts),
            images=images,
            manifest=manifest,
        )


def _model_entries(runs: Sequence[_RunContents], report: Report) -> list[ModelEntry]:
    """One entry per (run, model, judge configuration the report scored); labelled as the report's rows."""
    raw: list[tuple[str, Path, str | None]] = []
    for run in runs:
        rows = [r for r in report.runs if r.run_dir == run.run_dir]
        configs: list[str | None] = [r.judge.config for r in rows] or [None]
        models = list(dict.fromkeys(g.model for g in run.generations))
        if not models:
            models = [rows[0].model if rows else run.run_dir.name]
        raw.extend((model, run.run_dir, config) for model in models for config in configs)
    return [
        ModelEntry(key=f"m{i}", label=label, model=model, run_dir=run_dir, judge_config=config)
        for i, (label, (model, run_dir, config)) in enumerate(zip(distinct_labels(raw), raw, strict=True))
    ]


# the sample browser's data ------------------------------------------------------------------------


def _browser_payload(runs: Sequence[_RunContents], entries: Sequence[ModelEntry]) -> dict[str, Any]:
    samples: dict[str, dict[str, Any]] = {}
    for run in runs:
        for sample in run.samples:
            if sample.id not in samples:
                samples[sample.id] = _sample_view(sample, run.image_sha256.get(sample.id))
            elif samples[sample.id]["image"] is None:
                samples[sample.id]["image"] = run.image_sha256.get(sample.id)
    contents = {run.run_dir: run for run in runs}
    for entry in entries:
        run = contents[entry.run_dir]
        verdicts_by_generation: dict[str, list[VerdictRecord]] = defaultdict(list)
        for verdict in run.verdicts.get(entry.judge_config, []) if entry.judge_config else []:
            verdicts_by_generation[verdict.generation_key].append(verdict)
        for generation in run.generations:
            view = samples.get(generation.sample_id)
            if view is None or generation.model != entry.model:
                continue
            rounds = view["results"].setdefault(entry.key, [])
            rounds.append(_generation_view(generation, verdicts_by_generation.get(generation.key, [])))
    for view in samples.values():
        for rounds in view["results"].values():
            rounds.sort(key=lambda r: r["round"])
    return {
        "vocabulary": vocabulary_for_report(),
        "models": [
            {"key": e.key, "label": e.label, "run": e.run_dir.name, "judge_config": e.judge_config}
            for e in entries
        ],
        "subset_labels": SUBSET_TITLES,
        "setting_labels": SETTING_NAMES,
        "samples": list(samples.values()),
    }


def _sample_view(sample: Sample, image_sha256: str | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": sample.id,
        "base_id": sample.base_id,
        "subset": sample.subset,
        "setting": sample.setting,
        "variant": sample.variant,
        "country": sample.country,
        "language": sample.language,
        "domain": sample.domain,
        "item": sample.item,
        "query": sample.prompt_text,
        "norm": sample.norm,
        "image": image_sha256,
        "results": {},
    }
    if sample.english_query != sample.prompt_text:
        view["english_query"] = sample.english_query
    return view


def _generation_view(generation: GenerationRecord, verdicts: Iterable[VerdictRecord]) -> dict[str, Any]:
    view: dict[str, Any] = {"round": generation.round, "status": generation.status}
    if generation.status == "ok":
        view["response"] = generation.response or ""
        if generation.finish_reason and generation.finish_reason != "stop":
            view["finish_reason"] = generation.finish_reason
    else:
        view["error"] = generation.error or "no error message stored"
        if generation.error_kind:
            view["error_kind"] = generation.error_kind
    judged: dict[str, Any] = {}
    for verdict in verdicts:
        item: dict[str, Any] = {"status": verdict.status}
        if verdict.score is not None:
            item["score"] = verdict.score
        if verdict.reason:
            item["reason"] = verdict.reason
        if verdict.error:
            item["error"] = verdict.error
        if verdict.raw and (verdict.status != "ok" or not verdict.reason):
            item["raw"] = _truncate(verdict.raw, _RAW_TEXT_LIMIT)
        judged[verdict.dimension] = item
    view["verdicts"] = judged
    return view


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters]"


def _thumbnail_payload(runs: Sequence[_RunContents], thumbnail_px: int) -> dict[str, dict[str, str]]:
    """sha256 -> {"mime", "b64"}: one copy per image, shrunk to `thumbnail_px` when larger."""
    used = {sha for run in runs for sha in run.image_sha256.values()}
    result: dict[str, dict[str, str]] = {}
    for run in runs:
        for sha, image in run.images.items():
            if sha in result or sha not in used or not image.thumbnail:
                continue
            encoded = _fit_thumbnail(image.thumbnail, thumbnail_px)
            if encoded is not None:
                mime, data = encoded
                result[sha] = {"mime": mime, "b64": base64.b64encode(data).decode("ascii")}
    return result


def _fit_thumbnail(data: bytes, max_px: int) -> tuple[str, bytes] | None:
    """(mime, bytes) of a thumbnail no larger than `max_px`; None when the bytes are not an image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = (image.format or "").upper()
            if max(image.size) <= max_px and fmt in ("JPEG", "PNG", "WEBP", "GIF"):
                return f"image/{fmt.lower()}", data
            image.thumbnail((max_px, max_px))
            out = io.BytesIO()
            image.convert("RGB").save(out, format="JPEG", quality=80, optimize=True)
            return "image/jpeg", out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def _json_for_script(value: Any) -> str:
    """JSON that is safe inside a <script> element: no `</script>`, no `<!--`, no entity surprises."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# leaderboard, notes and charts --------------------------------------------------------------------


def _estimate(stat: RateSummary | None) -> Estimate | None:
    if stat is None or stat.mean is None:
        return None
    return Estimate(mean=stat.mean, low=stat.ci_low, high=stat.ci_high, n=stat.n)


def _leaderboard(report: Report) -> list[dict[str, Any]]:
    """Rows of the paper's table: per row of the report, CASA/SafeWorld x English/Multilingual x four dimensions."""
    columns = [
        (subset, setting, dim)
        for subset in ("casa", "safeworld")
        for setting in ("english", "multilingual")
        for dim in REPORTED_DIMENSIONS
    ]
    rows: list[dict[str, Any]] = []
    for label, run in zip(report.row_labels(), report.runs, strict=True):
        cells: list[dict[str, Any] | None] = []
        for subset, setting, dim in columns:
            estimate = _estimate(run.scores.get(subset, {}).get(setting, {}).get(dim))
            if estimate is None:
                cells.append(None)
                continue
            interval = (
                f"{estimate.low:.1f}–{estimate.high:.1f}"
                if estimate.low is not None and estimate.high is not None
                else ""
            )
            title = f"{SUBSET_TITLES[subset]} · {SETTING_NAMES[setting]} · {DIMENSION_TITLES[dim]}: "
            cells.append({"mean": estimate.mean, "interval": interval, "title": title + estimate.describe()})
        judge = run.judge
        rows.append(
            {
                "model": label,
                "judge": f"{judge.model} · {judge.protocol} (config {judge.config})",
                "cells": cells,
            }
        )
    for column in range(len(columns)):
        means = [row["cells"][column]["mean"] for row in rows if row["cells"][column] is not None]
        if len(means) > 1:
            best = max(means)
            for row in rows:
                cell = row["cells"][column]
                if cell is not None:
                    cell["best"] = cell["mean"] == best
    return rows


def _unscored_notes(report: Report) -> list[dict[str, Any]]:
    """Per row: what was not scored and why, as label/count pairs (non-zero counts only)."""
    notes: list[dict[str, Any]] = []
    for label, run in zip(report.row_labels(), report.runs, strict=True):
        unscored = run.unscored
        items: list[tuple[str, int]] = []
        if unscored.failed_generations:
            detail = ", ".join(f"{k} {v}" for k, v in unscored.failed_generations_by_kind.items())
            items.append(
                (f"failed generations{f' ({detail})' if detail else ''}", unscored.failed_generations)
            )
        for status in UNSCORED_STATUSES:
            count = unscored.verdicts_by_status.get(status, 0)
            if count:
                items.append((f"{status} verdicts", count))
        if unscored.missing_verdicts:
            items.append(("responses not judged yet (dimension verdicts)", unscored.missing_verdicts))
        notes.append({"model": label, "items": items})
    return notes


def _unscored_by_language(report: Report) -> dict[str, Any]:
    """The terminal's table of languages that lost verdicts, for the page; no rows when none did."""
    header, rows = unscored_language_rows(report)
    return {"title": UNSCORED_BY_LANGUAGE_TITLE, "header": header, "rows": rows}


def _charts(report: Report) -> dict[str, Any]:
    """The overall bars, a country heatmap per row, and per row the English-vs-translated pairs of
    `build_report` (`RunReport.language_pairs`), all drawn from the report the tables print."""
    labels = report.row_labels()
    bars: dict[tuple[str, str], Estimate | None] = {}
    for label, run in zip(labels, report.runs, strict=True):
        for dim in REPORTED_DIMENSIONS:
            bars[(dim, label)] = _estimate(run.overall.get(dim))
    dimension_chart = grouped_bar_chart(
        REPORTED_DIMENSIONS,
        labels,
        bars,
        title="Overall rate per dimension and model (%, 95% interval)",
        group_labels=DIMENSION_TITLES,
    )
    heatmaps: list[dict[str, str]] = []
    languages: list[dict[str, str]] = []
    for label, run in zip(labels, report.runs, strict=True):
        countries = run.breakdowns.get("country") or {}
        if countries:
            svg = heatmap(
                sorted(countries),
                REPORTED_DIMENSIONS,
                {
                    (country, dim): _estimate(cell.get(dim))
                    for country, cell in countries.items()
                    for dim in REPORTED_DIMENSIONS
                },
                title=f"{label}: rate per country and dimension (%)",
                column_labels=DIMENSION_TITLES,
            )
            heatmaps.append({"label": label, "svg": Markup(svg)})
        if run.language_pairs:
            sides: dict[tuple[str, str], tuple[Estimate | None, Estimate | None]] = {
                (language, dim): (
                    _estimate(pair.get("english", {}).get(dim)),
                    _estimate(pair.get("multilingual", {}).get(dim)),
                )
                for language, pair in run.language_pairs.items()
                for dim in REPORTED_DIMENSIONS
            }
            svg = dumbbell_grid(
                sorted(run.language_pairs),
                REPORTED_DIMENSIONS,
                sides,
                title=f"{label}: English vs translated query, per language (%)",
                pair_labels=("English query", "Translated query"),
                column_labels=DIMENSION_TITLES,
            )
            languages.append({"label": label, "svg": Markup(svg)})
    return {"dimensions": Markup(dimension_chart), "heatmaps": heatmaps, "languages": languages}


# manifest -----------------------------------------------------------------------------------------


def _manifest_view(run: _RunContents, entries: Sequence[ModelEntry]) -> dict[str, Any]:
    sections = []
    for name, section in run.manifest.items():
        rows = _flatten(section) if isinstance(section, Mapping | list) else [("", _scalar(section))]
        sections.append({"name": str(name), "rows": rows})
    configs = dict.fromkeys(e.judge_config for e in entries if e.run_dir == run.run_dir and e.judge_config)
    return {
        "run_dir": str(run.run_dir),
        "name": run.run_dir.name,
        "judge_configs": list(configs),
        "sections": sections,
    }


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested manifest values as (dotted.key, text) rows; values under secret-looking keys are hidden."""
    rows: list[tuple[str, str]] = []
    items = value.items() if isinstance(value, Mapping) else enumerate(value)
    for key, item in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        if any(part in str(key).lower() for part in _SECRET_KEY_PARTS):
            rows.append((path, "[hidden]"))
        elif isinstance(item, Mapping | list) and item:
            rows.extend(_flatten(item, path))
        else:
            rows.append((path, _scalar(item)))
    return rows


def _scalar(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


# templates ----------------------------------------------------------------------------------------


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("crosseval.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: "—" if v is None else f"{v:.1f}"
    return env


def _asset(name: str) -> str:
    return resources.files("crosseval.report").joinpath("templates", name).read_text(encoding="utf-8")
