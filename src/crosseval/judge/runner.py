"""Judging a run: every stored successful response, on the four dimensions, resumably and concurrently.

Each verdict has a key over the judge's identity, the protocol, the rubric template hash, the judge
parameters, the generation's key and the dimension; verdicts already stored under their key are not
asked again (failed ones are, with `retry_errors`). Responses whose generation failed are never
judged. Images are re-loaded from the stored samples with the run's own preprocessing, so the judge
sees the bytes the model saw. The manifest's `judges` section records each judge configuration with
its template hash, times and token usage (apart from the model's).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crosseval.data.images import ImageOptions, ImageResolver
from crosseval.data.prepared_image import PreparedImage
from crosseval.data.records import Sample
from crosseval.engine.generation import load_model, public_url
from crosseval.engine.keys import canonical_json
from crosseval.engine.manifest import read_manifest, update_manifest
from crosseval.engine.retry import RetryPolicy
from crosseval.engine.scheduler import Job, JobContext, JobTally, run_jobs
from crosseval.engine.store import (
    DIMENSIONS,
    Dimension,
    GenerationRecord,
    RunStore,
    VerdictRecord,
    VerdictStatus,
    utc_now,
)
from crosseval.errors import UserError
from crosseval.judge.protocols import JUDGE_PARAMS, JudgeInput, JudgeSettings, Verdict, judge_one
from crosseval.judge.rubrics import DEFAULT_RUBRIC_DIR, Protocol, RubricSet, load_rubric_set
from crosseval.models.backend_config import BackendConfig
from crosseval.models.registry import open_backend
from crosseval.models.types import GenerationParams, ModelBackend

RETRIED_STATUSES: frozenset[str] = frozenset({"api_error", "parse_error"})
"""Stored verdict statuses that `retry_errors` asks again (a refusal is the judge's answer, kept)."""

VERDICT_KEY_VERSION = 1
VERDICT_STATUSES: tuple[VerdictStatus, ...] = ("ok", "parse_error", "api_error", "refused")


class JudgeInputError(UserError):
    """A run that cannot be judged (no store, no successful responses, missing images): nothing was sent."""


@dataclass(frozen=True)
class JudgeConfig:
    """Which judge, how it is asked, and how hard the engine pushes it."""

    backend: BackendConfig
    """The judge (`backend.model`, e.g. `openai/gpt-4o-2024-08-06`, the paper's), built with the judge's key."""
    protocol: Protocol = "paper"
    rubric: RubricSet | None = None
    """A loaded rubric set; `None` for the built-in one."""
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    params: GenerationParams = JUDGE_PARAMS
    max_reasks: int = 2
    show_progress: bool = True

    @property
    def judge(self) -> str:
        return self.backend.model

    def rubric_set(self) -> RubricSet:
        """The rubric set the verdicts are asked with (loading the built-in one when none was given)."""
        return self.rubric if self.rubric is not None else load_rubric_set(None, self.protocol)


def judge_config_id(config: JudgeConfig, rubric: RubricSet, identity: Mapping[str, Any] | None = None) -> str:
    """A readable id of what decides the verdicts: `judge|protocol|<rubric hash[:12]>`.

    Judge parameters other than the paper's (temperature 0) add `|p<hash[:8]>` of the parameters. A judge
    `identity` with settings beyond provider and model (an in-process judge's dtype) adds `|i<hash[:8]>`
    of them: every setting that is part of a verdict's key is part of its configuration, so two
    configurations never hold two verdicts for the same response and dimension.
    """
    parts = [config.judge, config.protocol, rubric.template_hash[:12]]
    if config.params != JUDGE_PARAMS:
        parts.append("p" + _short_hash(config.params.as_dict()))
    settings = {k: v for k, v in (identity or {}).items() if k not in ("provider", "model") and v is not None}
    if settings:
        parts.append("i" + _short_hash(settings))
    return "|".join(parts)


def _short_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:8]


def verdict_key(
    identity: dict[str, Any],
    protocol: Protocol,
    template_hash: str,
    params: GenerationParams,
    generation_key: str,
    dimension: Dimension,
) -> str:
    """sha256 over everything that decides one verdict (see the module docstring)."""
    payload = {
        "version": VERDICT_KEY_VERSION,
        "judge": identity,
        "protocol": protocol,
        "template_hash": template_hash,
        "params": {k: v for k, v in params.as_dict().items() if v is not None},
        "generation": generation_key,
        "dimension": dimension,
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


@dataclass
class JudgeSummary(JobTally):
    """What one `run_judging` call did, and what the run holds for this judge afterwards."""

    run_dir: Path
    judge_config: str
    judge: str
    protocol: Protocol
    responses: int = 0
    """Successful responses in the run (each gets four verdicts)."""
    failed_generations: int = 0
    """Failed generations in the run, never judged."""
    cached: int = 0
    """Verdicts already stored and kept."""
    sent: int = 0
    """Jobs run by this call (one per dimension in `paper`, one per response in `single`)."""
    new: Counter[str] = field(default_factory=Counter)
    """Verdicts stored by this call, by status."""
    stored: Counter[str] = field(default_factory=Counter)
    """Verdicts the run holds for this judge configuration after the call, by status."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    """Judge tokens of this call (the manifest holds the run's totals)."""
    wall_s: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return self.responses * len(DIMENSIONS)

    @property
    def missing(self) -> int:
        """Verdicts this judge still owes the run (crashed or interrupted jobs)."""
        return self.expected - sum(self.stored.values())


@dataclass(frozen=True)
class _Work:
    generation: GenerationRecord
    sample: Sample
    dimensions: tuple[Dimension, ...]
    keys: dict[Dimension, str]


async def run_judging(
    run_dir: Path,
    config: JudgeConfig,
    *,
    images_root: Path | None,
    retry_errors: bool = False,
    backend: ModelBackend | None = None,
) -> JudgeSummary:
    """Judge every successful response of `run_dir` that this judge configuration has not judged yet.

    `backend` overrides the judge `config.judge` names (the caller then owns it). Raises
    `JudgeInputError` before any request for a run that cannot be judged, `RubricError` for a bad
    rubric set and `ConfigError` for an unusable judge (unknown provider, missing key, an in-process
    judge that cannot load: loaded only when something is to be judged, before anything is stored).
    """
    run_dir = Path(run_dir)
    started = time.monotonic()
    if not RunStore.exists(run_dir):
        raise JudgeInputError(
            f"{run_dir} is not a run directory (no run.sqlite): run `crosseval generate` or `crosseval run` first"
        )
    rubric = config.rubric_set()
    settings = JudgeSettings(
        protocol=config.protocol, rubric=rubric, max_reasks=config.max_reasks, params=config.params
    )

    with RunStore.open_for_writing(run_dir, command="crosseval judge") as store:
        generations = store.generations()
        responses = [g for g in generations if g.status == "ok"]
        if not generations:
            raise JudgeInputError(f"{run_dir} holds no responses to judge: run `crosseval generate` first")
        if not responses:
            raise JudgeInputError(
                f"{run_dir} holds no successful responses to judge: all {len(generations)} generations failed "
                "(see `crosseval export` for their errors, or rerun generation with --retry-errors)"
            )
        samples = {s.id: s for s in store.samples()}
        missing_samples = sorted({g.sample_id for g in responses if g.sample_id not in samples})
        if missing_samples:
            raise JudgeInputError(
                f"{run_dir}: {len(missing_samples)} response(s) belong to samples the run does not hold "
                f"(first: {missing_samples[0]}); the run store is incomplete"
            )

        async with open_backend(config.backend, backend) as judge:
            identity = judge.identity
            config_id = judge_config_id(config, rubric, identity)
            summary = JudgeSummary(
                run_dir=run_dir,
                judge_config=config_id,
                judge=config.judge,
                protocol=config.protocol,
                responses=len(responses),
                failed_generations=len(generations) - len(responses),
            )
            statuses = store.verdict_statuses()
            work: list[_Work] = []
            for generation in responses:
                keys = {
                    d: verdict_key(
                        identity, config.protocol, rubric.template_hash, config.params, generation.key, d
                    )
                    for d in DIMENSIONS
                }
                pending = tuple(d for d in DIMENSIONS if _needs_judging(statuses.get(keys[d]), retry_errors))
                summary.cached += len(DIMENSIONS) - len(pending)
                if pending:
                    work.append(_Work(generation, samples[generation.sample_id], pending, keys))

            images: dict[str, PreparedImage] = {}
            if work:
                images = _load_images(run_dir, store, [w.sample for w in work], images_root, summary)
                # Before the manifest says `running`: a judge that cannot load stores nothing.
                await load_model(judge, f"the judge {config.judge}", show_progress=config.show_progress)
            manifest_entry = _manifest_entry(run_dir, config, config_id, rubric, identity)
            _write_manifest_entry(run_dir, config_id, {**manifest_entry, "status": "running"})
            try:
                if work:
                    await _judge_work(
                        work, images, _JudgeRun(store, judge, config, config_id, settings, summary)
                    )
            finally:
                summary.wall_s = time.monotonic() - started
                _finish(store, run_dir, config_id, manifest_entry, summary)
    return summary


def _needs_judging(status: str | None, retry_errors: bool) -> bool:
    return status is None or (retry_errors and status in RETRIED_STATUSES)


def _image_options(run_dir: Path, summary: JudgeSummary) -> ImageOptions:
    """The preprocessing the run's generation used (from its manifest), so the judge sees the same bytes."""
    recorded = (read_manifest(run_dir).get("generation") or {}).get("image_options")
    if not recorded:
        summary.warnings.append(
            "the manifest records no image options; images are prepared with the defaults"
        )
        return ImageOptions()
    known = {f.name for f in dataclasses.fields(ImageOptions)}
    options = ImageOptions(**{k: v for k, v in recorded.items() if k in known})
    if options.identity() != recorded:
        summary.warnings.append(
            f"the run's images were prepared with {canonical_json(recorded)}, this version prepares them with "
            f"{canonical_json(options.identity())}"
        )
    return options


def _load_images(
    run_dir: Path,
    store: RunStore,
    samples: Sequence[Sample],
    images_root: Path | None,
    summary: JudgeSummary,
) -> dict[str, PreparedImage]:
    """sample id -> its prepared image, each distinct source loaded once; fails naming every missing image."""
    resolver = ImageResolver(images_root, options=_image_options(run_dir, summary))
    generated_sha = store.sample_image_sha256()
    by_url: dict[str, PreparedImage] = {}
    images: dict[str, PreparedImage] = {}
    failures: list[str] = []
    for sample in samples:
        source = sample.image.local_path or sample.image.url
        if source not in by_url:
            try:
                by_url[source] = resolver.load(sample)
            except Exception as exc:  # any unreadable image is reported below, with its sample
                failures.append(f"{sample.id} ({sample.image.name}): {type(exc).__name__}: {exc}")
                continue
        image = by_url[source]
        images[sample.id] = image
        expected = generated_sha.get(sample.id)
        if expected is not None and expected != image.sha256:
            summary.warnings.append(
                f"{sample.id}: the image prepared now (sha256 {image.sha256[:12]}) differs from the one the model "
                f"saw ({expected[:12]}); the judge sees the new one"
            )
    if failures:
        shown = "\n  ".join(failures[:10])
        more = f"\n  ... and {len(failures) - 10} more" if len(failures) > 10 else ""
        raise JudgeInputError(
            f"{len(failures)} image(s) the judge needs could not be loaded (give --images DIR or --data PATH "
            f"pointing at the images the run was generated with):\n  {shown}{more}"
        )
    return images


@dataclass(frozen=True)
class _JudgeRun:
    """What every verdict job of one `run_judging` call shares."""

    store: RunStore
    backend: ModelBackend
    config: JudgeConfig
    config_id: str
    settings: JudgeSettings
    summary: JudgeSummary


async def _judge_work(work: list[_Work], images: dict[str, PreparedImage], run: _JudgeRun) -> None:
    """One job per (response, dimension) under the paper's protocol, one per response under `single`."""
    config = run.config
    jobs: list[Job] = []
    for item in work:
        judge_input = JudgeInput(
            query=item.sample.prompt_text,
            norm=item.sample.norm,
            response=item.generation.response or "",
            image=images[item.sample.id],
        )
        asked = [(d,) for d in item.dimensions] if config.protocol == "paper" else [item.dimensions]
        jobs += [_job(run, item, dimensions, judge_input) for dimensions in asked]
    run.summary.sent = len(jobs)
    result = await run_jobs(
        jobs,
        max_connections=config.backend.max_connections,
        policy=config.policy,
        label=f"judge {config.judge} ({config.protocol})",
        show_progress=config.show_progress,
    )
    run.summary.add_run(result)


def _job(run: _JudgeRun, item: _Work, dimensions: tuple[Dimension, ...], judge_input: JudgeInput) -> Job:
    async def job(ctx: JobContext) -> str:
        verdicts = await judge_one(ctx, run.backend, judge_input, run.settings, dimensions)
        records = [_record(item, d, verdicts[d], run.config, run.config_id) for d in dimensions]
        run.store.put_verdicts(records)
        for verdict in verdicts.values():
            run.summary.new[verdict.status] += 1
            run.summary.prompt_tokens += verdict.prompt_tokens
            run.summary.completion_tokens += verdict.completion_tokens
        worst = [v.status for v in verdicts.values() if v.status != "ok"]
        return worst[0] if worst else "ok"

    return job


def _record(
    item: _Work, dimension: Dimension, verdict: Verdict, config: JudgeConfig, config_id: str
) -> VerdictRecord:
    return VerdictRecord(
        key=item.keys[dimension],
        generation_key=item.generation.key,
        sample_id=item.generation.sample_id,
        round=item.generation.round,
        dimension=dimension,
        judge_config=config_id,
        judge_model=config.judge,
        protocol=config.protocol,
        status=verdict.status,
        score=verdict.score,
        reason=verdict.reason,
        raw=verdict.raw,
        error=verdict.error,
        prompt_tokens=verdict.prompt_tokens,
        completion_tokens=verdict.completion_tokens,
        attempts=verdict.attempts,
    )


def _manifest_entry(
    run_dir: Path, config: JudgeConfig, config_id: str, rubric: RubricSet, identity: dict[str, Any]
) -> dict[str, Any]:
    previous = (read_manifest(run_dir).get("judges") or {}).get(config_id) or {}
    return {
        "judge": config.judge,
        "model": config.judge,
        "identity": identity,
        "base_url": public_url(config.backend.base_url),
        "protocol": config.protocol,
        "rubric_dir": "built-in" if rubric.directory == DEFAULT_RUBRIC_DIR else str(rubric.directory),
        "template_hash": rubric.template_hash,
        "params": config.params.as_dict(),
        "max_reasks": config.max_reasks,
        "started_at": previous.get("started_at", utc_now()),
        "last_started_at": utc_now(),
    }


def _write_manifest_entry(run_dir: Path, config_id: str, entry: dict[str, Any]) -> None:
    judges = dict(read_manifest(run_dir).get("judges") or {})
    judges[config_id] = entry
    update_manifest(run_dir, "judges", judges)


def _finish(
    store: RunStore, run_dir: Path, config_id: str, entry: dict[str, Any], summary: JudgeSummary
) -> None:
    """Count what the run holds for this judge and record it, with the judge's token totals, in the manifest."""
    rows = store.verdicts(config_id)
    summary.stored = Counter(r.status for r in rows)
    prompt_tokens = sum(r.prompt_tokens or 0 for r in rows)
    completion_tokens = sum(r.completion_tokens or 0 for r in rows)
    status = "complete" if summary.missing <= 0 and not summary.crashed else "incomplete"
    _write_manifest_entry(
        run_dir,
        config_id,
        {
            **entry,
            "finished_at": utc_now(),
            "wall_s": round(summary.wall_s, 3),
            "status": status,
            "verdicts": {s: summary.stored.get(s, 0) for s in VERDICT_STATUSES},
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        },
    )
