"""Judged fixture runs for the metrics and report tests: `tests.helpers.fake_run` plus a run manifest.

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
from crosseval.data.records import Sample
from crosseval.engine.store import Dimension
from tests.helpers.fake_run import (
    FakeJudge,
    ScoreFn,
    ScoreOrStatus,
    generation_key,
    make_sample,
    write_fake_run,
)

__all__ = [
    "ScoreFn",
    "ScoreOrStatus",
    "constant",
    "cross_sample_samples",
    "generation_key",
    "japan_2_fails_in_round_2",
    "known_scores",
    "make_sample",
    "write_known_run",
    "write_run",
]


def cross_sample_samples(root: Path) -> list[Sample]:
    """The samples of ../shared/cross-sample (exact upstream records), through the real loader."""
    return list(load_benchmark([root]).samples)


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
    """`write_fake_run` plus the manifest a run carries (unless `manifest=False`).

    Calling it again on the same directory with another `judge_config` adds a second judge
    configuration over the same generations.
    """
    rounds = list(rounds)
    judge = FakeJudge(judge_config, judge_model, protocol)
    write_fake_run(
        run_dir,
        samples,
        score,
        model=model,
        rounds=rounds,
        failed=failed,
        judge=judge,
        tokens=tokens,
        verdict_time=verdict_time,
    )
    if manifest:
        _merge_manifest(run_dir, samples, model, judge_config, judge_model, protocol, rounds)
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
