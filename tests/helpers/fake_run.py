"""Fake runs written straight into a real `RunStore`: samples, images, generations and verdicts of known values.

One builder serves the metrics, report and alignment tests and `bench/bench_html_report.py`, so they
agree on what a judged run looks like:

- `make_sample` builds a `Sample` with the id scheme of `crosseval.data.records`, every field overridable;
- `ok_generation`, `failed_generation` and `verdict` build single records;
- `write_fake_run` writes a whole run, a callable deciding each verdict (and which generations fail),
  so a test states the values it expects and can compute its rates by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crosseval.data.records import Domain, ImageRef, Sample, Setting, Subset
from crosseval.engine.store import (
    DIMENSIONS,
    Dimension,
    GenerationRecord,
    RunStore,
    StoredImage,
    VerdictRecord,
    VerdictStatus,
)

ScoreOrStatus = int | VerdictStatus | None
"""0/1: an `ok` verdict with that score; a status: a verdict of that status; None: no verdict."""
ScoreFn = Callable[[Sample, int, Dimension], ScoreOrStatus]

TRANSLATION_OF: dict[str, str] = {
    "Japan": "Japanese",
    "Iran": "Persian",
    "India": "Hindi",
    "Mexico": "Spanish",
    "Egypt": "Arabic",
    "China": "Chinese",
    "Nigeria": "Hausa",
    "Thailand": "Thai",
}
"""The language each country's multilingual items are asked in (CROSS's countries in the shared sample)."""


def make_sample(
    subset: Subset,
    setting: Setting,
    index: str,
    *,
    variant: int = 1,
    domain: Domain = "shopping",
    language: str | None = None,
    **fields: Any,
) -> Sample:
    """A hand-made sample; `fields` override any other `Sample` field (`country`, `prompt_text`, `norm`...).

    `image_url` in `fields` sets the image (its name is the URL's last segment).
    """
    country = index.rsplit("_", 1)[0].replace("_", " ")
    image_url = fields.pop("image_url", f"https://example.invalid/{subset}/{index}.jpg")
    values: dict[str, Any] = {
        "id": f"{subset}/{setting}/{variant}/{index}",
        "base_id": f"{subset}/{index}",
        "index": index,
        "subset": subset,
        "setting": setting,
        "variant": variant,
        "country": country,
        "language": "English"
        if setting == "english"
        else (language or TRANSLATION_OF.get(country, "Unknown")),
        "prompt_text": f"query {subset} {index} {setting} {variant}",
        "english_query": f"query {subset} {index}",
        "norm": f"norm of {subset} {index}",
        "image": ImageRef(url=image_url, name=image_url.rsplit("/", 1)[-1]),
        "domain": domain,
        "source_file": f"{subset}/{setting}.json",
        "position": 0,
        "raw": {"index": index},
    }
    return Sample(**(values | fields))


@dataclass(frozen=True)
class FakeJudge:
    """Who the stored verdicts claim to come from."""

    config: str = "paper-judge"
    model: str = "openai/judge-1"
    protocol: str = "paper"


def generation_key(model: str, sample: Sample, round_: int) -> str:
    return f"gen|{model}|{sample.id}|{round_}"


def ok_generation(
    sample: Sample, round_: int, model: str, response: str, *, key: str | None = None, **fields: Any
) -> GenerationRecord:
    """A successful generation (`fields`: tokens, latency, attempts...)."""
    key = key or generation_key(model, sample, round_)
    return GenerationRecord(key, sample.id, round_, model, "ok", response=response, **fields)


def failed_generation(
    sample: Sample,
    round_: int,
    model: str,
    error: str = "rate_limit 429: slow down",
    *,
    key: str | None = None,
) -> GenerationRecord:
    """A generation that failed: stored with its error and, as the engine stores it, the error's kind."""
    key = key or generation_key(model, sample, round_)
    kind = error.split(maxsplit=1)[0].rstrip(":")
    return GenerationRecord(key, sample.id, round_, model, "error", error=error, error_kind=kind)


def verdict(
    generation_key: str,
    sample_id: str,
    round_: int,
    dimension: Dimension | str,
    outcome: ScoreOrStatus,
    *,
    judge: FakeJudge = FakeJudge(),
    key: str | None = None,
    **fields: Any,
) -> VerdictRecord:
    """One verdict: `outcome` 0/1 is an `ok` verdict with that score, a status word a failed one.

    Unless `fields` say otherwise, an `ok` verdict carries a reason and the judge's raw text, an
    unreadable or refused one only the raw text, an `api_error` only the error.
    """
    assert outcome is not None, "None means no verdict: leave it out instead"
    ok = outcome in (0, 1)
    status: VerdictStatus = "ok" if ok else outcome  # type: ignore[assignment]
    details: dict[str, Any] = {
        "ok": {"reason": f"Reason {dimension} r{round_}.", "raw": f"Reasoning. Score: {outcome}"},
        "parse_error": {"raw": "Well, it depends."},
        "refused": {"raw": "Well, it depends."},
        "api_error": {"error": "api_error 500: upstream failed"},
    }[status]
    return VerdictRecord(
        key=key or f"{judge.config}|{generation_key}|{dimension}",
        generation_key=generation_key,
        sample_id=sample_id,
        round=round_,
        dimension=dimension,  # type: ignore[arg-type]
        judge_config=judge.config,
        judge_model=judge.model,
        protocol=judge.protocol,
        status=status,
        score=int(outcome) if ok else None,
        **(details | fields),
    )


def fake_thumbnail_image(sample: Sample, thumbnail: bytes, *, mime: str = "image/jpeg") -> StoredImage:
    """A stored image for `sample` keyed by the sha256 of its URL (distinct images, shared by URL)."""
    sha = hashlib.sha256(sample.image.url.encode()).hexdigest()
    return StoredImage(sha, mime, 1024, 768, thumbnail)


def write_fake_run(
    run_dir: Path,
    samples: Sequence[Sample],
    score: ScoreFn,
    *,
    model: str = "openai/model-a",
    rounds: Iterable[int] = (1, 2, 3),
    failed: Callable[[Sample, int], bool] = lambda sample, round_: False,
    response: Callable[[Sample, int], str] = lambda sample, round_: (
        f"answer to {sample.id} in round {round_}"
    ),
    judge: FakeJudge = FakeJudge(),
    image: Callable[[Sample], StoredImage | None] = lambda sample: None,
    tokens: tuple[int, int] | None = (100, 20),
    judge_tokens: tuple[int, int] | None = (50, 10),
    verdict_fields: Callable[[Sample, int, Dimension], dict[str, Any]] = lambda sample, round_, dimension: {},
    verdict_time: str = "2026-01-01T00:00:00+00:00",
) -> Path:
    """Writes (or adds to) a run: samples (with their images), generations (failed ones as errors), verdicts.

    `score` decides each verdict (see `ScoreOrStatus`); `failed` which generations are errors. Called
    again on the same directory with another `judge` it adds a second judge configuration over the
    same generations.
    """
    rounds = list(rounds)
    with RunStore.open_for_writing(run_dir, command="test") as store:
        shas: dict[str, str] = {}
        for sample in samples:
            stored = image(sample)
            if stored is not None:
                store.put_image(stored)
                shas[sample.id] = stored.sha256
        store.put_samples(samples, shas)
        usage = _usage(tokens)
        verdict_base = _usage(judge_tokens) | {"created_at": verdict_time}
        verdicts: list[VerdictRecord] = []
        with store.transaction():
            for sample in samples:
                for round_ in rounds:
                    if failed(sample, round_):
                        store.put_generation(failed_generation(sample, round_, model))
                        continue
                    generation = ok_generation(sample, round_, model, response(sample, round_), **usage)
                    store.put_generation(generation)
                    for dimension in DIMENSIONS:
                        outcome = score(sample, round_, dimension)
                        if outcome is not None:
                            extra = verdict_base | verdict_fields(sample, round_, dimension)
                            verdicts.append(
                                verdict(
                                    generation.key,
                                    sample.id,
                                    round_,
                                    dimension,
                                    outcome,
                                    judge=judge,
                                    **extra,
                                )
                            )
        store.put_verdicts(verdicts)
    return run_dir


def _usage(tokens: tuple[int, int] | None) -> dict[str, Any]:
    return {"prompt_tokens": tokens[0], "completion_tokens": tokens[1]} if tokens else {}
