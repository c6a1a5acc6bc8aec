"""The self-contained HTML report: leaderboard, charts, manifest and a sample browser in one file.

The page opens with no network: CSS, JavaScript, charts (inline SVG from `crosseval.report.charts`)
and data are inlined. Samples, responses and verdicts travel as JSON in a
`<script type="application/json">` block and the browser renders only the visible page of samples,
so a full benchmark run (1,284 samples x 3 rounds x several models) stays responsive. Thumbnails are
embedded once per sha256. Large payloads are gzip-compressed and base64-encoded (the browser
inflates them with `DecompressionStream`), which keeps the full benchmark well under 30 MB.

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
from crosseval.engine.store import DIMENSIONS, GenerationRecord, RunStore, StoredImage, VerdictRecord
from crosseval.metrics.observations import REPORTED_DIMENSIONS, latest_verdicts
from crosseval.report.charts import Estimate, dumbbell_grid, grouped_bar_chart, heatmap
from crosseval.report.tables import DIMENSION_TITLES, SUBSET_TITLES

SETTING_LABELS: dict[str, str] = {"english": "English", "multilingual": "Multilingual"}

_PASS_SCORE: dict[str, int] = {"awareness": 1, "education": 1, "violation": 0, "helpfulness": 1}
"""The judge score that counts as culturally safe; `violation` is reported as compliance = 1 - score."""
_REPORTED_NAME: dict[str, str] = {"violation": "compliance"}

COMPRESS_ABOVE_BYTES = 2_000_000
"""Payloads larger than this are gzip+base64 encoded unless the caller decides explicitly."""
_RAW_TEXT_LIMIT = 4000
_SECRET_KEY_PARTS = ("api_key", "apikey", "token", "secret", "password", "authorization")


class ReportInputError(Exception):
    """A run directory that cannot be reported on; the message names the path and what is wrong."""


@dataclass(frozen=True)
class ModelEntry:
    """One model's results in one run: a column of the sample browser."""

    key: str
    label: str
    model: str
    run_dir: Path
    judge_config: str | None


@dataclass(frozen=True)
class _RunContents:
    run_dir: Path
    samples: list[Sample]
    image_sha256: dict[str, str]
    generations: list[GenerationRecord]
    verdicts: list[VerdictRecord]
    judge_config: str | None
    images: dict[str, StoredImage]
    manifest: dict[str, Any]


def write_html_report(
    run_dirs: Sequence[Path],
    out_path: Path,
    *,
    report: dict[str, Any] | None = None,
    judge_config: str | None = None,
    thumbnail_px: int = 256,
    compress: bool | None = None,
) -> Path:
    """Write the report for `run_dirs` to `out_path` (atomically) and return the path.

    `report` is the dict of `crosseval.report.summary.build_report`; it is built when not given.
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
    report: dict[str, Any] | None = None,
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
    report_runs = [r for r in report.get("runs", []) if isinstance(r, Mapping)]
    runs = [
        _read_run(Path(d), _reported_judge_config(report_runs, Path(d)) or judge_config) for d in run_dirs
    ]
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
        "leaderboard": _leaderboard(report_runs),
        "unscored": _unscored_notes(report_runs),
        "notices": [str(n) for n in report.get("notices", [])],
        "charts": _charts(report_runs),
        "manifests": [_manifest_view(r) for r in runs],
        "subsets": [SUBSET_TITLES[s] for s in ("casa", "safeworld")],
        "settings": [SETTING_LABELS[s] for s in ("english", "multilingual")],
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


def _reported_judge_config(report_runs: Sequence[Mapping[str, Any]], run_dir: Path) -> str | None:
    """The judge configuration the report scored for `run_dir`, so the browser shows the same verdicts."""
    for run in report_runs:
        if Path(str(run.get("run_dir"))) == run_dir:
            judge = run.get("judge")
            if isinstance(judge, Mapping) and isinstance(judge.get("config"), str):
                return str(judge["config"])
    return None


def _read_run(run_dir: Path, judge_config: str | None) -> _RunContents:
    _check_run_dir(run_dir)
    try:
        manifest = read_manifest(run_dir)
    except ManifestError as exc:
        raise ReportInputError(str(exc)) from exc
    with RunStore.open_for_reading(run_dir) as store:
        configs = store.judge_configs()
        if judge_config is not None:
            chosen: str | None = judge_config
        else:
            chosen = configs[-1] if configs else None
        verdicts = store.verdicts(chosen) if chosen is not None else []
        shas = store.sample_image_sha256()
        stored = store.images()
        images = {sha: stored[sha] for sha in set(shas.values()) if sha in stored}
        return _RunContents(
            run_dir=run_dir,
            samples=store.samples(),
            image_sha256=shas,
            generations=store.generations(),
            verdicts=latest_verdicts(verdicts),
            judge_config=chosen,
            images=images,
            manifest=manifest,
        )


def _model_entries(runs: Sequence[_RunContents], report: Mapping[str, Any]) -> list[ModelEntry]:
    """One entry per (run, model); labels get the run folder's name when two would read the same."""
    report_runs = [r for r in report.get("runs", []) if isinstance(r, Mapping)]
    raw: list[tuple[str, _RunContents]] = []
    for i, run in enumerate(runs):
        models = list(dict.fromkeys(g.model for g in run.generations))
        if not models:
            fallback = report_runs[i].get("model") if i < len(report_runs) else None
            models = [str(fallback) if fallback else run.run_dir.name]
        raw.extend((model, run) for model in models)
    counts: dict[str, int] = defaultdict(int)
    for model, _ in raw:
        counts[model] += 1
    return [
        ModelEntry(
            key=f"m{i}",
            label=model if counts[model] == 1 else f"{model} ({run.run_dir.name})",
            model=model,
            run_dir=run.run_dir,
            judge_config=run.judge_config,
        )
        for i, (model, run) in enumerate(raw)
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
    entry_of = {(e.run_dir, e.model): e for e in entries}
    for run in runs:
        verdicts_by_generation: dict[str, list[VerdictRecord]] = defaultdict(list)
        for verdict in run.verdicts:
            verdicts_by_generation[verdict.generation_key].append(verdict)
        for generation in run.generations:
            view = samples.get(generation.sample_id)
            if view is None:
                continue
            entry = entry_of[(run.run_dir, generation.model)]
            rounds = view["results"].setdefault(entry.key, [])
            rounds.append(_generation_view(generation, verdicts_by_generation.get(generation.key, [])))
    for view in samples.values():
        for rounds in view["results"].values():
            rounds.sort(key=lambda r: r["round"])
    return {
        "dimensions": [
            {"key": d, "label": DIMENSION_TITLES[_REPORTED_NAME.get(d, d)], "pass_score": _PASS_SCORE[d]}
            for d in DIMENSIONS
        ],
        "models": [
            {"key": e.key, "label": e.label, "run": e.run_dir.name, "judge_config": e.judge_config}
            for e in entries
        ],
        "subset_labels": SUBSET_TITLES,
        "setting_labels": SETTING_LABELS,
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


def _estimate(stats: Any) -> Estimate | None:
    if not isinstance(stats, Mapping) or stats.get("mean") is None:
        return None
    low, high, n = stats.get("ci_low"), stats.get("ci_high"), stats.get("n")
    return Estimate(
        mean=float(stats["mean"]),
        low=None if low is None else float(low),
        high=None if high is None else float(high),
        n=None if n is None else int(n),
    )


def _leaderboard(report_runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the paper's table: per model, CASA/SafeWorld x English/Multilingual x four dimensions."""
    columns = [
        (subset, setting, dim)
        for subset in ("casa", "safeworld")
        for setting in ("english", "multilingual")
        for dim in REPORTED_DIMENSIONS
    ]
    rows: list[dict[str, Any]] = []
    for run in report_runs:
        scores = run.get("scores") or {}
        cells: list[dict[str, Any] | None] = []
        for subset, setting, dim in columns:
            estimate = _estimate(((scores.get(subset) or {}).get(setting) or {}).get(dim))
            if estimate is None:
                cells.append(None)
                continue
            interval = (
                f"{estimate.low:.1f}–{estimate.high:.1f}"
                if estimate.low is not None and estimate.high is not None
                else ""
            )
            title = f"{SUBSET_TITLES[subset]} · {SETTING_LABELS[setting]} · {DIMENSION_TITLES[dim]}: "
            cells.append({"mean": estimate.mean, "interval": interval, "title": title + estimate.describe()})
        rows.append(
            {
                "model": str(run.get("model") or Path(str(run.get("run_dir", "?"))).name),
                "judge": _judge_label(run.get("judge")),
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


def _judge_label(judge: Any) -> str:
    """`openai/gpt-4o · paper (config abc123)` from the report's judge entry (a dict, or a plain name)."""
    if not isinstance(judge, Mapping):
        return "" if judge is None else str(judge)
    parts = [str(judge[key]) for key in ("model", "protocol") if judge.get(key)]
    label = " · ".join(parts)
    if judge.get("config"):
        label += f" (config {judge['config']})"
    return label


def _unscored_notes(report_runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per run: what was not scored and why, as label/count pairs (non-zero counts only)."""
    notes: list[dict[str, Any]] = []
    for run in report_runs:
        unscored = run.get("unscored") or {}
        if not isinstance(unscored, Mapping):
            continue
        items: list[tuple[str, int]] = []
        failed = unscored.get("failed_generations")
        if isinstance(failed, int) and failed:
            kinds = unscored.get("failed_generations_by_kind") or {}
            detail = ", ".join(f"{k} {v}" for k, v in kinds.items()) if isinstance(kinds, Mapping) else ""
            items.append((f"failed generations{f' ({detail})' if detail else ''}", failed))
        verdicts = unscored.get("verdicts") or {}
        if isinstance(verdicts, Mapping):
            for status in ("parse_error", "api_error", "refused"):
                count = verdicts.get(status)
                if isinstance(count, int) and count:
                    items.append((f"{status} verdicts", count))
        missing = unscored.get("missing_verdicts")
        if isinstance(missing, int) and missing:
            items.append(("responses not judged yet (dimension verdicts)", missing))
        notes.append({"model": str(run.get("model") or run.get("run_dir") or "?"), "items": items})
    return notes


def _charts(report_runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The overall bars, a country heatmap per run, and per run the English-vs-translated pairs of
    `build_report` (`run["language_pairs"]`), all drawn from the report dict the tables print."""
    labels = [str(r.get("model") or Path(str(r.get("run_dir", "?"))).name) for r in report_runs]
    labels = [label if labels.count(label) == 1 else f"{label} #{i + 1}" for i, label in enumerate(labels)]
    bars: dict[tuple[str, str], Estimate | None] = {}
    for label, run in zip(labels, report_runs, strict=True):
        overall = run.get("overall") or {}
        for dim in REPORTED_DIMENSIONS:
            bars[(dim, label)] = _estimate(overall.get(dim))
    dimension_chart = grouped_bar_chart(
        REPORTED_DIMENSIONS,
        labels,
        bars,
        title="Overall rate per dimension and model (%, 95% interval)",
        group_labels=DIMENSION_TITLES,
    )
    heatmaps: list[dict[str, str]] = []
    for label, run in zip(labels, report_runs, strict=True):
        countries = ((run.get("breakdowns") or {}).get("country")) or {}
        if not isinstance(countries, Mapping) or not countries:
            continue
        values: dict[tuple[str, str], Estimate | None] = {
            (str(country), dim): _estimate((stats or {}).get(dim))
            for country, stats in countries.items()
            for dim in REPORTED_DIMENSIONS
        }
        svg = heatmap(
            sorted(str(c) for c in countries),
            REPORTED_DIMENSIONS,
            values,
            title=f"{label}: rate per country and dimension (%)",
            column_labels=DIMENSION_TITLES,
        )
        heatmaps.append({"label": label, "svg": Markup(svg)})
    languages: list[dict[str, str]] = []
    for label, run in zip(labels, report_runs, strict=True):
        pairs = run.get("language_pairs") or {}
        if not isinstance(pairs, Mapping) or not pairs:
            continue
        sides: dict[tuple[str, str], tuple[Estimate | None, Estimate | None]] = {
            (str(language), dim): (
                _estimate((by_setting.get("english") or {}).get(dim)),
                _estimate((by_setting.get("multilingual") or {}).get(dim)),
            )
            for language, by_setting in pairs.items()
            for dim in REPORTED_DIMENSIONS
        }
        svg = dumbbell_grid(
            sorted(str(language) for language in pairs),
            REPORTED_DIMENSIONS,
            sides,
            title=f"{label}: English vs translated query, per language (%)",
            pair_labels=("English query", "Translated query"),
            column_labels=DIMENSION_TITLES,
        )
        languages.append({"label": label, "svg": Markup(svg)})
    return {"dimensions": Markup(dimension_chart), "heatmaps": heatmaps, "languages": languages}


# manifest -----------------------------------------------------------------------------------------


def _manifest_view(run: _RunContents) -> dict[str, Any]:
    sections = []
    for name, section in run.manifest.items():
        rows = _flatten(section) if isinstance(section, Mapping | list) else [("", _scalar(section))]
        sections.append({"name": str(name), "rows": rows})
    return {
        "run_dir": str(run.run_dir),
        "name": run.run_dir.name,
        "judge_config": run.judge_config,
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
