"""The self-contained HTML report, rendered from a run written with the real RunStore.

The fixture run holds the real-schema samples of ../shared/cross-sample, thumbnails (two samples
share one image, one sample has none), generations over three rounds including failures, and
verdicts including `parse_error`, `api_error` and `refused`. One answer is an HTML-injection attempt.
The helpers here are imported by the browser and server tests.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from stat import S_IMODE
from typing import Any

import pytest
from PIL import Image

from crosseval.data.records import Sample
from crosseval.engine.manifest import update_manifest
from crosseval.engine.store import DIMENSIONS, Dimension
from crosseval.metrics.aggregate import BootstrapSettings
from crosseval.report.html import ReportInputError, render_html_report, write_html_report
from crosseval.report.model import Report
from crosseval.report.summary import build_report
from crosseval.vocabulary import vocabulary_for_report
from tests.helpers.fake_run import FakeJudge, ScoreOrStatus, fake_thumbnail_image, make_sample, write_fake_run

MODEL_A = "openai/gpt-4o-mini"
MODEL_B = "hf/tiny-llava <b>bold</b>"
JUDGE_CONFIG = "judge-4o-paper-v1"
INJECTION = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> & done'
SECRET = "sk-test-never-in-a-report"


def _stable(*parts: object) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def load_fixture_samples(cross_sample: Path) -> list[Sample]:
    """Samples built directly from the upstream records (one paraphrase block per english file)."""
    samples: list[Sample] = []
    for subset in ("casa", "safeworld"):
        for setting in ("english", "multilingual"):
            path = cross_sample / subset / f"{setting}.json"
            for position, record in enumerate(json.loads(path.read_text(encoding="utf-8"))):
                country = record.get("country") or record["index"].rsplit("_", 1)[0]
                samples.append(
                    make_sample(
                        subset,
                        setting,
                        record["index"],
                        language=record.get("language", "").rstrip(".").strip(),
                        domain="shopping" if subset == "casa" else "outdoor_activities",
                        country=country.replace("_", " "),
                        prompt_text=record["translated_query"]
                        if setting == "multilingual"
                        else record["query"],
                        english_query=record["query"],
                        norm=record["violated_norm" if subset == "casa" else "violated_specific_norm"],
                        image_url=record["file_name"],
                        item=record.get("item"),
                        source_file=str(path),
                        position=position,
                        raw=record,
                    )
                )
    return samples


def _thumbnail(name: str, size: tuple[int, int]) -> bytes:
    seed = _stable(name)
    color = (seed % 200 + 30, (seed >> 8) % 200 + 30, (seed >> 16) % 200 + 30)
    image = Image.new("RGB", size, color)
    for x in range(0, size[0], 40):
        for y in range(size[1] // 3, size[1] // 3 * 2):
            image.putpixel((x, y), (255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def expected_outcome(sample_id: str, model: str, round_: int, dimension: str) -> tuple[str, int | None]:
    """The (status, score) the fixture stores for one verdict."""
    roll = _stable(sample_id, model, round_, dimension) % 100
    if roll < 4:
        return "parse_error", None
    if roll < 7:
        return "api_error", None
    if roll < 9:
        return "refused", None
    return "ok", int(roll % 2 == 0)


def is_failed_generation(sample_id: str, model: str, round_: int) -> bool:
    return _stable("gen", sample_id, model, round_) % 13 == 0


def injection_sample_id(samples: Sequence[Sample]) -> str:
    return samples[3].id


def write_fixture_run(
    run_dir: Path,
    samples: Sequence[Sample],
    model: str,
    rounds: int,
    *,
    thumbnail_size: tuple[int, int] = (320, 240),
) -> None:
    """A run directory as the generate and judge phases leave it, plus its manifest."""
    no_image = samples[-1].id

    def outcome(sample: Sample, round_: int, dimension: Dimension) -> ScoreOrStatus:
        status, score = expected_outcome(sample.id, model, round_, dimension)
        return score if status == "ok" else status  # type: ignore[return-value]

    def response(sample: Sample, round_: int) -> str:
        if sample.id == injection_sample_id(samples):
            return INJECTION
        return f"[{model} r{round_}] Advice for {sample.item or 'this item'} in {sample.country}."

    write_fake_run(
        run_dir,
        samples,
        outcome,
        model=model,
        rounds=range(1, rounds + 1),
        failed=lambda sample, round_: is_failed_generation(sample.id, model, round_),
        response=response,
        judge=FakeJudge(JUDGE_CONFIG, "openai/gpt-4o-2024-08-06"),
        image=lambda sample: (
            None
            if sample.id == no_image
            else fake_thumbnail_image(sample, _thumbnail(sample.image.url, thumbnail_size), mime="image/png")
        ),
        verdict_fields=lambda sample, round_, dimension: (
            {"reason": f"Reason {dimension} r{round_} for {sample.index}."}
            if expected_outcome(sample.id, model, round_, dimension)[0] == "ok"
            else {}
        ),
    )
    update_manifest(run_dir, "dataset", {"files": [{"path": "casa/english.json", "sha256": "d" * 64}]})
    update_manifest(
        run_dir,
        "generation",
        {"model": model, "params": {"temperature": 0.0}, "rounds": rounds, "api_key": SECRET},
    )
    update_manifest(
        run_dir, "judges", {JUDGE_CONFIG: {"model": "openai/gpt-4o-2024-08-06", "rubric_sha256": "r" * 64}}
    )
    update_manifest(run_dir, "package", {"crosseval": "0.1.0", "python": "3.11"})


@pytest.fixture
def fixture_runs(cross_sample: Path, tmp_path: Path) -> tuple[list[Path], list[Sample], Report]:
    samples = load_fixture_samples(cross_sample)
    run_a, run_b = tmp_path / "run-a", tmp_path / "run-b"
    write_fixture_run(run_a, samples, MODEL_A, rounds=3)
    write_fixture_run(run_b, samples[:40], MODEL_B, rounds=2)
    return [run_a, run_b], samples, build_report([run_a, run_b], bootstrap_reps=200)


def embedded_json(html: str, block_id: str) -> Any:
    match = re.search(rf'<script type="application/json" id="{block_id}">(.*?)</script>', html, re.S)
    assert match is not None, f"no {block_id} block"
    value = json.loads(match.group(1))
    if isinstance(value, dict) and "gzip_base64" in value:
        value = json.loads(gzip.decompress(base64.b64decode(value["gzip_base64"])))
    return value


def test_leaderboard_shows_every_cell_with_its_interval(fixture_runs: Any) -> None:
    run_dirs, _, report = fixture_runs
    html = render_html_report(run_dirs, report=report)
    table = html[html.index('<table class="leaderboard">') : html.index("</table>")]
    cell = report.as_dict()["runs"][0]["scores"]["safeworld"]["multilingual"]["compliance"]
    assert f'{cell["mean"]:.1f}<span class="ci">{cell["ci_low"]:.1f}–{cell["ci_high"]:.1f}</span>' in table
    assert table.count('<td class="score') == 2 * 16
    assert "CASA" in table and "SafeWorld" in table and "Multilingual" in table
    assert f"judge: openai/gpt-4o-2024-08-06 · paper (config {JUDGE_CONFIG})" in table
    assert "hf/tiny-llava &lt;b&gt;bold&lt;/b&gt;" in table
    assert "<b>bold</b>" not in html


def test_unscored_counts_are_listed_not_hidden(fixture_runs: Any) -> None:
    run_dirs, _, report = fixture_runs
    html = render_html_report(run_dirs, report=report)
    notes = html[html.index('<div class="not-scored">') :]
    for run in report.as_dict()["runs"]:
        unscored = run["unscored"]
        assert unscored["verdicts"]["parse_error"] > 0 and unscored["failed_generations"] > 0
        line = notes[notes.index(run["model"].replace("<", "&lt;").replace(">", "&gt;")) :].split("</li>")[0]
        assert (
            f'<span class="count">{unscored["verdicts"]["parse_error"]}</span> parse_error verdicts' in line
        )
        assert f'<span class="count">{unscored["verdicts"]["refused"]}</span> refused verdicts' in line
        failed = unscored["failed_generations"]
        assert f'<span class="count">{failed}</span> failed generations (rate_limit {failed})' in line


def test_manifest_is_shown_and_secrets_are_not(fixture_runs: Any) -> None:
    run_dirs, _, report = fixture_runs
    html = render_html_report(run_dirs, report=report)
    manifest = html[html.index('<section id="manifest"') :]
    judges = manifest[manifest.index("<h4>judges</h4>") : manifest.index("<h4>package</h4>")]
    assert f"<th>{JUDGE_CONFIG}.rubric_sha256</th><td>{'r' * 64}</td>" in judges
    assert "r" * 64 in manifest and "d" * 64 in manifest
    assert SECRET not in html
    assert "<th>api_key</th><td>[hidden]</td>" in manifest


def test_browser_data_holds_every_round_verdict_and_status(fixture_runs: Any) -> None:
    run_dirs, samples, report = fixture_runs
    data = embedded_json(render_html_report(run_dirs, report=report, compress=False), "crosseval-data")
    assert [m["label"] for m in data["models"]] == [MODEL_A, MODEL_B]
    assert len(data["samples"]) == len(samples)
    by_id = {s["id"]: s for s in data["samples"]}
    seen_statuses: set[str] = set()
    for sample in samples:
        view = by_id[sample.id]
        assert view["query"] == sample.prompt_text and view["norm"] == sample.norm
        assert view.get("english_query") == (
            sample.english_query if sample.setting == "multilingual" else None
        )
        rounds = view["results"]["m0"]
        assert [r["round"] for r in rounds] == [1, 2, 3]
        for r in rounds:
            if is_failed_generation(sample.id, MODEL_A, r["round"]):
                assert r["status"] == "error" and r["error"].startswith("rate_limit 429")
                assert r["error_kind"] == "rate_limit"
                assert r["verdicts"] == {} and "response" not in r
                continue
            for dimension in DIMENSIONS:
                status, score = expected_outcome(sample.id, MODEL_A, r["round"], dimension)
                verdict = r["verdicts"][dimension]
                seen_statuses.add(verdict["status"])
                assert verdict["status"] == status and verdict.get("score") == score
                if status == "parse_error":
                    assert verdict["raw"] == "Well, it depends."
                if status == "api_error":
                    assert verdict["error"].startswith("api_error 500")
    assert seen_statuses == {"ok", "parse_error", "api_error", "refused"}
    assert {s["id"] for s in data["samples"] if "m1" in s["results"]} == {s.id for s in samples[:40]}


def test_untrusted_answers_cannot_inject_markup(fixture_runs: Any) -> None:
    run_dirs, samples, report = fixture_runs
    html = render_html_report(run_dirs, report=report, compress=False)
    assert "window.__pwned" in html
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    assert html.count("</script>") == html.count("<script")
    data = embedded_json(html, "crosseval-data")
    view = next(s for s in data["samples"] if s["id"] == injection_sample_id(samples))
    assert view["results"]["m0"][0]["response"] == INJECTION


def test_thumbnails_are_embedded_once_per_image_and_shrunk(fixture_runs: Any) -> None:
    run_dirs, samples, report = fixture_runs
    html = render_html_report(run_dirs, report=report, thumbnail_px=128)
    images = embedded_json(html, "crosseval-images")
    assert len(images) == len({s.image.url for s in samples[:-1]}) < len(samples) - 1
    for image in images.values():
        assert html.count(image["b64"]) == 1
        with Image.open(io.BytesIO(base64.b64decode(image["b64"]))) as decoded:
            assert max(decoded.size) == 128 and image["mime"] == "image/jpeg"
    data = embedded_json(html, "crosseval-data")
    assert all(s["image"] in images for s in data["samples"] if s["id"] != samples[-1].id)
    assert next(s for s in data["samples"] if s["id"] == samples[-1].id)["image"] is None


def test_compressed_and_plain_payloads_carry_the_same_data(fixture_runs: Any) -> None:
    run_dirs, _, report = fixture_runs
    plain = render_html_report(run_dirs, report=report, compress=False)
    packed = render_html_report(run_dirs, report=report, compress=True)
    assert '"gzip_base64"' in packed and '"gzip_base64"' not in plain
    assert len(packed) < len(plain)
    assert embedded_json(packed, "crosseval-data") == embedded_json(plain, "crosseval-data")


def test_charts_cover_models_countries_and_languages(fixture_runs: Any) -> None:
    run_dirs, samples, report = fixture_runs
    html = render_html_report(run_dirs, report=report)
    charts = html[html.index('<section id="charts"') : html.index('<section id="samples"')]
    assert charts.count("<svg") == 1 + 2 + 2
    countries = {s.country for s in samples}
    assert (
        countries
        == set(report.runs[0].breakdowns["country"])
        == {"Japan", "Iran", "India", "Mexico", "Egypt"}
    )
    for country in countries:
        assert f">{country}</text>" in charts
    translated = {s.language for s in samples if s.setting == "multilingual"}
    assert translated == {"Japanese", "Persian", "Hindi", "Arabic", "Spanish"}
    for language in translated:
        assert f">{language}</text>" in charts
    awareness = report.runs[0].overall["awareness"]
    assert awareness.mean is not None and awareness.ci_low is not None
    assert f"{MODEL_A} · Awareness: {awareness.mean:.1f}% [{awareness.ci_low:.1f}, " in charts


def test_the_language_chart_draws_the_reports_language_pairs(fixture_runs: Any) -> None:
    run_dirs, _, report = fixture_runs
    hindi = report.runs[0].language_pairs["Hindi"]
    english, translated = hindi["english"]["education"], hindi["multilingual"]["education"]
    assert english.mean is not None and translated.mean is not None
    html = render_html_report(run_dirs, report=report)
    for side, stat in (("English query", english), ("Translated query", translated)):
        assert f"Hindi · Education · {side}: {stat.mean:.1f}% " in html

    only_persian = replace(
        report,
        runs=tuple(
            replace(run, language_pairs={"Persian": run.language_pairs["Persian"]}) for run in report.runs
        ),
    )
    charts = render_html_report(run_dirs, report=only_persian)
    charts = charts[charts.index('<section id="charts"') : charts.index('<section id="samples"')]
    assert ">Persian</text>" in charts and ">Hindi</text>" not in charts


def test_write_html_report_writes_one_self_contained_file(fixture_runs: Any, tmp_path: Path) -> None:
    run_dirs, _, report = fixture_runs
    out = write_html_report(run_dirs, tmp_path / "out" / "report.html", report=report)
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert '<link rel="stylesheet"' not in html and "<script src" not in html
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_the_written_report_is_readable_by_others_as_the_umask_allows(
    fixture_runs: Any, tmp_path: Path
) -> None:
    run_dirs, _, report = fixture_runs
    previous = os.umask(0o022)
    try:
        out = write_html_report(run_dirs, tmp_path / "report.html", report=report)
    finally:
        os.umask(previous)
    assert S_IMODE(out.stat().st_mode) == 0o644  # a report is for sharing; not a private 0600 temp file


def test_a_folder_without_a_run_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportInputError, match=r"empty: no run\.sqlite"):
        render_html_report([tmp_path / "empty"], report=Report(runs=(), bootstrap=BootstrapSettings()))
    with pytest.raises(ReportInputError, match="missing: not a directory"):
        render_html_report([tmp_path / "missing"], report=Report(runs=(), bootstrap=BootstrapSettings()))


def test_the_page_script_reads_the_vocabulary_from_its_data(fixture_runs: Any) -> None:
    run_dirs, _, report = fixture_runs
    data = embedded_json(render_html_report(run_dirs, report=report, compress=False), "crosseval-data")
    assert data["vocabulary"] == json.loads(json.dumps(vocabulary_for_report()))
    script = (
        resources.files("crosseval.report").joinpath("templates", "report.js").read_text(encoding="utf-8")
    )
    for declared in ("parse_error", "api_error", "Parse error", "Judge refused", "judge call failed"):
        assert declared not in script, f"report.js declares {declared!r} itself"


def test_languages_that_lost_verdicts_are_listed(fixture_runs: Any) -> None:
    run_dirs, _, report = fixture_runs
    html = render_html_report(run_dirs, report=report)
    table = html[html.index('<table class="unscored-languages">') :].split("</table>")[0]
    persian = report.runs[0].unscored_by_language["Persian"]
    lost = sum(persian[status] for status in ("parse_error", "api_error", "refused"))
    assert lost > 0
    row = table[table.index(f"<td>{MODEL_A}</td><td>Persian</td>") :].split("</tr>")[0]
    assert f'<td class="num">{sum(persian.values())}</td>' in row
    assert f'<td class="num">{persian["parse_error"]}</td>' in row


def test_a_run_judged_two_ways_shows_each_judge_config(cross_sample: Path, tmp_path: Path) -> None:
    samples = load_fixture_samples(cross_sample)[:6]
    run_dir = tmp_path / "run"
    for config, score in (("judge-a", 1), ("judge-b", 0)):
        write_fake_run(
            run_dir, samples, lambda s, r, d, score=score: score, judge=FakeJudge(config), rounds=(1,)
        )
    report = build_report([run_dir], bootstrap_reps=20)
    html = render_html_report([run_dir], report=report, compress=False)
    table = html[html.index('<table class="leaderboard">') : html.index("</table>")]
    assert "openai/model-a (judge judge-a)" in table and "openai/model-a (judge judge-b)" in table
    data = embedded_json(html, "crosseval-data")
    assert [(m["label"], m["judge_config"]) for m in data["models"]] == [
        ("openai/model-a (judge judge-a)", "judge-a"),
        ("openai/model-a (judge judge-b)", "judge-b"),
    ]
    first = data["samples"][0]["results"]
    assert first["m0"][0]["verdicts"]["awareness"]["score"] == 1
    assert first["m1"][0]["verdicts"]["awareness"]["score"] == 0
