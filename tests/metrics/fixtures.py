"""Fixture runs written directly with `RunStore`: samples, generations and verdicts of known values.

`write_run` stores one generation per (sample, round) and one verdict per dimension, each decided
by a callable, so a test states the values it expects and can compute its rates by hand. Samples
come from the shared CROSS sample (`cross_sample_samples`) or are made by hand (`make_sample`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from crosseval.data.loaders import load_benchmark
from crosseval.data.records import Domain, ImageRef, Sample, Setting, Subset
from crosseval.engine.store import (
    DIMENSIONS,
    Dimension,
    GenerationRecord,
    RunStore,
    VerdictRecord,
    VerdictStatus,
)

ScoreOrStatus = int | VerdictStatus | None
"""0/1: an `ok` verdict with that score; a status: a verdict of that status; None: no verdict."""
ScoreFn = Callable[[Sample, int, Dimension], ScoreOrStatus]

_LANGUAGES = {
    "Japan": "Japanese",
    "Iran": "Persian",
    "India": "Hindi",
    "Mexico": "Spanish",
    "Egypt": "Arabic",
}


def make_sample(
    subset: Subset,
    setting: Setting,
    index: str,
    *,
    variant: int = 1,
    domain: Domain = "shopping",
    language: str | None = None,
) -> Sample:
    """A hand-made sample with the id scheme of `crosseval.data.records`."""
    country = index.rsplit("_", 1)[0].replace("_", " ")
    lang = "English" if setting == "english" else (language or _LANGUAGES.get(country, "Unknown"))
    return Sample(
        id=f"{subset}/{setting}/{variant}/{index}",
        base_id=f"{subset}/{index}",
        index=index,
        subset=subset,
        setting=setting,
        variant=variant,
        country=country,
        language=lang,
        prompt_text=f"query {subset} {index} {setting} {variant}",
        english_query=f"query {subset} {index}",
        norm=f"norm of {subset} {index}",
        image=ImageRef(url=f"https://example.invalid/{subset}/{index}.jpg", name=f"{index}.jpg"),
        domain=domain,
        source_file=f"{subset}/{setting}.json",
        position=0,
        raw={"index": index},
    )


def cross_sample_samples(root: Path) -> list[Sample]:
    """The samples of ../shared/cross-sample (exact upstream records), through the real loader."""
    return list(load_benchmark([root]).samples)


def generation_key(model: str, sample: Sample, round_: int) -> str:
    return f"gen|{model}|{sample.id}|{round_}"


def write_run(
    run_dir: Path,
    samples: Sequence[Sample],
    score: ScoreFn,
    *,
    rounds: Iterable[int] = (1, 2, 3),
    failed: Callable[[Sample, int], bool] = lambda sample, round_: False,
    model: str = "openai/model-a",
    judge_config: str = "paper-judge",
    judge_model: str = "openai/judge-1",
    protocol: str = "paper",
    verdict_time: str = "2026-01-01T00:00:00+00:00",
    tokens: tuple[int, int] = (100, 20),
    manifest: bool = True,
) -> Path:
    """Writes (or adds to) a run: samples, generations (failed ones as errors) and verdicts.

    Calling it again on the same directory with another `judge_config` adds a second judge
    configuration over the same generations.
    """
    with RunStore.open(run_dir) as store:
        store.put_samples(samples)
        verdicts: list[VerdictRecord] = []
        for sample in samples:
            for round_ in rounds:
                key = generation_key(model, sample, round_)
                if failed(sample, round_):
                    store.put_generation(
                        GenerationRecord(
                            key, sample.id, round_, model, "error", error="rate_limit 429: slow down"
                        )
                    )
                    continue
                store.put_generation(
                    GenerationRecord(
                        key,
                        sample.id,
                        round_,
                        model,
                        "ok",
                        response=f"answer to {sample.id} in round {round_}",
                        prompt_tokens=tokens[0],
                        completion_tokens=tokens[1],
                    )
                )
                for dimension in DIMENSIONS:
                    value = score(sample, round_, dimension)
                    if value is None:
                        continue
                    ok = value in (0, 1)
                    verdicts.append(
                        VerdictRecord(
                            key=f"{judge_config}|{key}|{dimension}",
                            generation_key=key,
                            sample_id=sample.id,
                            round=round_,
                            dimension=dimension,
                            judge_config=judge_config,
                            judge_model=judge_model,
                            protocol=protocol,
                            status="ok" if ok else value,  # type: ignore[arg-type]
                            score=int(value) if ok else None,
                            raw=f"Reasoning. Score: {value}",
                            prompt_tokens=50,
                            completion_tokens=10,
                            created_at=verdict_time,
                        )
                    )
        store.put_verdicts(verdicts)
    if manifest:
        _merge_manifest(run_dir, samples, model, judge_config, judge_model, protocol, list(rounds))
    return run_dir


def _merge_manifest(
    run_dir: Path,
    samples: Sequence[Sample],
    model: str,
    judge_config: str,
    judge_model: str,
    protocol: str,
    rounds: list[int],
) -> None:
    path = run_dir / "manifest.json"
    manifest: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    provider, _, name = model.partition("/")
    manifest.setdefault("dataset", {"samples": len(samples), "files": {}})
    manifest["generation"] = {
        "model": {"provider": provider, "model": name},
        "params": {},
        "rounds": len(rounds),
    }
    manifest.setdefault("judges", {})[judge_config] = {
        "model": judge_model,
        "protocol": protocol,
        "template_hash": "sha256:fixture",
    }
    manifest.setdefault("package", {"version": "0.1.0"})
    path.write_text(json.dumps(manifest, indent=2))


def constant(value: ScoreOrStatus) -> ScoreFn:
    """Every verdict the same."""
    return lambda sample, round_, dimension: value


def known_scores(sample: Sample, round_: int, dimension: Dimension) -> ScoreOrStatus:
    """A scoring scheme whose rates are easy to compute by hand.

    awareness: 1 for Japan, else 0; education: always 1; violation: 1 in round 1 only (compliance
    0, 100, 100); helpfulness: `parse_error` for Iran, else 1 in round 3 only.
    """
    if dimension == "awareness":
        return int(sample.country == "Japan")
    if dimension == "education":
        return 1
    if dimension == "violation":
        return int(round_ == 1)
    return "parse_error" if sample.country == "Iran" else int(round_ == 3)


def japan_2_fails_in_round_2(sample: Sample, round_: int) -> bool:
    return sample.index == "Japan_2" and round_ == 2


def write_known_run(run_dir: Path, samples: Sequence[Sample], **options: Any) -> Path:
    """`write_run` with `known_scores` and one failed generation per Japan_2 sample (round 2)."""
    return write_run(run_dir, samples, known_scores, failed=japan_2_fails_in_round_2, **options)
