"""Generation: ask a model every (sample, round) of the benchmark once, store each outcome, resume for free.

One request per sample and round: a user message holding the sample's image, then its `prompt_text`.
Each request has a key (`keys.request_key`) over model identity, parameters, messages (with the
image's sha256), image preprocessing and round. Keys already stored `ok` are skipped, and so are
stored errors unless `retry_errors`; everything else is sent through the scheduler and stored the
moment it arrives. A failed request is stored as an error with its kind and message, never as text.

An in-process model (hf, vLLM offline) loads only when something is to be sent, once, before anything
is stored: a rerun of a finished run or a dry run never loads it, and a model that cannot load ends
the command with its message (`ConfigError`) instead of being stored as an error on every request.

Images are prepared once per distinct source (file + preprocessing). The store remembers which sha256
a source prepared to, so a rerun computes every key without decoding an unchanged image again and
only loads the images of requests it actually has to send.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from crosseval.data.images import ImageError, ImageOptions, ImageResolver, thumbnail_jpeg
from crosseval.data.loaders import DataFileInfo
from crosseval.data.prepared_image import PreparedImage
from crosseval.data.records import Sample
from crosseval.engine.keys import canonical_json, request_key
from crosseval.engine.manifest import package_info, read_manifest, update_manifest
from crosseval.engine.retry import RequestFailed, RetryPolicy
from crosseval.engine.scheduler import Job, JobContext, JobTally, run_jobs
from crosseval.engine.store import GenerationRecord, GenerationStatus, RunStore, StoredImage, utc_now
from crosseval.errors import EXIT_USAGE, UserError
from crosseval.models.backend_config import BackendConfig
from crosseval.models.registry import open_backend
from crosseval.models.secrets import public_url
from crosseval.models.types import (
    BackendError,
    GenerationParams,
    GenerationRequest,
    LoadsOnFirstUse,
    Message,
    ModelBackend,
    load_backend,
)

IMAGE_ERROR_KIND = "image"
"""The error kind stored when a sample's image cannot be loaded (nothing is sent for it)."""

CHARS_PER_TOKEN = 4.0
"""Dry-run estimate for text: about four characters per token (English; other scripts use more tokens)."""


class GenerationConfigError(UserError):
    """A generation that must not start: bad settings, or a run directory made with different ones."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class GenerationConfig:
    backend: BackendConfig
    """The model under test (`backend.model`, e.g. `openai/gpt-4o-mini`), where it listens and how it is built."""
    params: GenerationParams = field(default_factory=GenerationParams)
    rounds: int = 3
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    image_options: ImageOptions = field(default_factory=ImageOptions)
    retry_errors: bool = False
    dry_run: bool = False
    show_progress: bool = True

    @property
    def model(self) -> str:
        return self.backend.model


@dataclass(frozen=True)
class TokenEstimate:
    """A dry run's cost estimate for the requests that would be sent.

    Text: characters / `CHARS_PER_TOKEN`. Images: OpenAI's high-detail rule (scale to fit 2048 x 2048,
    then the short side to 768, then 85 + 170 tokens per 512-pixel tile); other providers differ but
    are of the same order. Completion tokens are only bounded when `max_tokens` is set.
    """

    requests: int
    text_tokens: int
    image_tokens: int
    max_completion_tokens: int | None

    @property
    def prompt_tokens(self) -> int:
        return self.text_tokens + self.image_tokens


@dataclass
class GenerationSummary(JobTally):
    run_dir: Path
    model: str
    requests: int
    """All (sample, round) requests of this command."""
    sent: int = 0
    skipped_cached: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    """Requests of this command that ended as stored errors, by error kind."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    run_ok: int = 0
    """Requests of this command stored `ok` in the run after it (this command's and earlier ones)."""
    run_errors: int = 0
    estimate: TokenEstimate | None = None
    """Set by a dry run, which sends nothing."""
    interrupted: bool = False

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def missing(self) -> int:
        """Requests of this command with no stored outcome (crashed or interrupted)."""
        return self.requests - self.run_ok - self.run_errors


@dataclass(frozen=True)
class _Planned:
    key: str
    sample: Sample
    round: int
    request: GenerationRequest

    def record(self, model: str, status: GenerationStatus, attempts: int, **outcome: Any) -> GenerationRecord:
        """This request's stored outcome: `outcome` holds the response and usage, or the error."""
        return GenerationRecord(
            self.key, self.sample.id, self.round, model, status, attempts=attempts, **outcome
        )


def image_source_key(resolver: ImageResolver, sample: Sample) -> str:
    """What a sample's prepared image depends on: its local file (path, size, mtime) or URL, and the options."""
    source: dict[str, Any] = {"url": sample.image.url}
    try:
        path = resolver.local_path(sample)
        if path is not None:
            stat = path.stat()
            source = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    except (ImageError, OSError):
        source["missing"] = True
    payload = canonical_json({"source": source, "options": resolver.options.identity()})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def image_tokens_estimate(width: int, height: int) -> int:
    """OpenAI's documented high-detail token count for an image of this size (see `TokenEstimate`)."""
    scale = min(1.0, 2048 / max(width, height, 1))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / max(min(w, h), 1))
    w, h = w * scale, h * scale
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


def build_request(sample: Sample, image: PreparedImage, params: GenerationParams) -> GenerationRequest:
    """The CROSS prompt: one user turn with the image, then the query (translated in the multilingual setting)."""
    return GenerationRequest(
        messages=(Message(role="user", text=sample.prompt_text, images=(image,)),), params=params
    )


def _unloaded(stored: StoredImage) -> PreparedImage:
    """A stand-in carrying a stored image's hash and metadata but no bytes.

    Keys read only `sha256` and `mime`, so a rerun computes them from the store's memo; the bytes are
    loaded only for requests that are actually sent.
    """
    return PreparedImage(
        data=b"", mime=stored.mime, sha256=stored.sha256, width=stored.width, height=stored.height
    )


class _ImageBook:
    """Prepared images by source: loaded at most once per command, remembered across commands in the store."""

    def __init__(self, resolver: ImageResolver, store: RunStore | None) -> None:
        self._resolver = resolver
        self._store = store
        self._source_keys: dict[tuple[str, str, str | None], str] = {}
        self._memo: dict[str, str] = store.image_sources() if store is not None else {}
        self._stored: dict[str, StoredImage] = store.images() if store is not None else {}
        self._loaded: dict[str, PreparedImage] = {}
        self.failures: dict[str, str] = {}
        """source key -> why its image could not be loaded."""

    def source_key(self, sample: Sample) -> str:
        reference = (sample.subset, sample.image.url, sample.image.local_path)
        key = self._source_keys.get(reference)
        if key is None:
            key = self._source_keys[reference] = image_source_key(self._resolver, sample)
        return key

    def for_key(self, sample: Sample) -> PreparedImage | None:
        """An image good enough to compute keys (possibly without bytes); `None` when it cannot be loaded."""
        source = self.source_key(sample)
        if source not in self._loaded and source not in self.failures:
            sha = self._memo.get(source)
            if sha is not None and sha in self._stored:
                return _unloaded(self._stored[sha])
        return self.loaded(sample)

    def loaded(self, sample: Sample) -> PreparedImage | None:
        """The image with its bytes, loading (and recording) it on first use."""
        source = self.source_key(sample)
        if source in self._loaded:
            return self._loaded[source]
        if source in self.failures:
            return None
        try:
            image = self._resolver.load(sample)
        except ImageError as exc:  # a bad or missing image is data about this sample, not a crash
            self.failures[source] = str(exc)
            return None
        self._loaded[source] = image
        if self._store is not None:
            if image.sha256 not in self._stored:
                stored = StoredImage(
                    image.sha256, image.mime, image.width, image.height, thumbnail_jpeg(image)
                )
                self._store.put_image(stored)
                self._stored[image.sha256] = stored
            if self._memo.get(source) != image.sha256:
                self._store.put_image_source(source, image.sha256)
                self._memo[source] = image.sha256
        return image

    def release(self) -> None:
        self._loaded.clear()


def _generation_identity(config: GenerationConfig, identity: dict[str, Any]) -> dict[str, Any]:
    """The settings a run directory is bound to: a different value needs a different run directory."""
    return {
        "identity": identity,
        "params": config.params.as_dict(),
        "image_options": config.image_options.identity(),
    }


def _check_compatible(
    run_dir: Path, manifest: dict[str, Any], bound: dict[str, Any], dataset: list[dict[str, Any]]
) -> None:
    previous = manifest.get("generation") or {}
    for name, value in bound.items():
        if name in previous and canonical_json(previous[name]) != canonical_json(value):
            raise GenerationConfigError(
                f"{run_dir} was generated with other {name}: {_differences(previous[name], value)}; "
                "use another --run-dir for different settings"
            )
    previous_files = (manifest.get("dataset") or {}).get("files")
    if previous_files is not None and dataset:
        before = sorted(f["sha256"] for f in previous_files)
        now = sorted(f["sha256"] for f in dataset)
        if before != now:
            old = ", ".join(f"{f['path']} ({f['sha256'][:12]})" for f in previous_files)
            new = ", ".join(f"{f['path']} ({f['sha256'][:12]})" for f in dataset)
            raise GenerationConfigError(
                f"{run_dir} was generated from other data files: [{old}], this command reads [{new}]; "
                "use another --run-dir for a different dataset"
            )


def _differences(before: Any, now: Any) -> str:
    """`key: <stored> in the run, <asked> now` for each key that differs (the whole values when not mappings)."""
    if not isinstance(before, dict) or not isinstance(now, dict):
        return f"{canonical_json(before)} in the run, {canonical_json(now)} now"
    changed = sorted(
        k for k in before.keys() | now.keys() if canonical_json(before.get(k)) != canonical_json(now.get(k))
    )
    return "; ".join(
        f"{key} {canonical_json(before.get(key))} in the run, {canonical_json(now.get(key))} now"
        for key in changed
    )


def _dataset_section(files: Sequence[DataFileInfo]) -> list[dict[str, Any]]:
    return [
        {
            "path": str(f.path),
            "subset": f.subset,
            "setting": f.setting,
            "sha256": f.sha256,
            "records": f.records,
        }
        for f in files
    ]


def _estimate(planned: Sequence[_Planned], params: GenerationParams) -> TokenEstimate:
    text = 0
    images = 0
    for item in planned:
        for message in item.request.messages:
            text += math.ceil(len(message.text) / CHARS_PER_TOKEN)
            images += sum(image_tokens_estimate(i.width, i.height) for i in message.images)
    bound = params.max_tokens * len(planned) if params.max_tokens is not None else None
    return TokenEstimate(
        requests=len(planned), text_tokens=text, image_tokens=images, max_completion_tokens=bound
    )


async def run_generation(
    samples: Sequence[Sample],
    run_dir: Path,
    config: GenerationConfig,
    *,
    images_root: Path | None,
    dataset_files: Sequence[DataFileInfo] = (),
    backend: ModelBackend | None = None,
) -> GenerationSummary:
    """Generate `config.rounds` responses per sample into `run_dir`, sending only what is not stored yet.

    `dataset_files` describe where `samples` came from (recorded in the manifest, checked on resume).
    `backend` overrides the one `config.backend` describes (tests, or a caller that shares one); the caller
    then owns it, else it is created here (failing with `ConfigError` before any request) and closed.
    A dry run needs no API key: it never sends a request.
    An in-process model that cannot load raises `ConfigError` too, before this command stores anything.
    Raises `GenerationConfigError` for bad settings or a run directory made with other settings.
    """
    if config.rounds < 1:
        raise GenerationConfigError(f"--rounds must be at least 1, got {config.rounds}")
    started = time.monotonic()
    backend_config = replace(config.backend, key_optional=True) if config.dry_run else config.backend
    async with open_backend(backend_config, backend) as model:
        return await _generate(samples, Path(run_dir), config, images_root, dataset_files, model, started)


async def _generate(
    samples: Sequence[Sample],
    run_dir: Path,
    config: GenerationConfig,
    images_root: Path | None,
    dataset_files: Sequence[DataFileInfo],
    backend: ModelBackend,
    started: float,
) -> GenerationSummary:
    store: RunStore | None = None
    try:
        dataset = _dataset_section(dataset_files)
        bound = _generation_identity(config, backend.identity)
        _check_compatible(run_dir, read_manifest(run_dir), bound, dataset)
        if not config.dry_run:
            store = RunStore.open_for_writing(run_dir, command="crosseval generate")
        elif RunStore.exists(run_dir):
            store = RunStore.open_for_reading(run_dir)
        book = _ImageBook(
            ImageResolver(images_root, options=config.image_options), None if config.dry_run else store
        )
        planned, image_failures = _plan(samples, config, backend.identity, book)
        summary = GenerationSummary(
            run_dir=run_dir, model=config.model, requests=len(planned) + len(image_failures)
        )
        statuses = store.generation_statuses() if store is not None else {}
        pending = [p for p in planned if _needs_sending(statuses.get(p.key), config.retry_errors)]
        summary.skipped_cached = len(planned) - len(pending)
        if config.dry_run:
            summary.estimate = _estimate(pending, config.params)
            summary.errors.update({IMAGE_ERROR_KIND: len(image_failures)} if image_failures else {})
            summary.wall_s = time.monotonic() - started
            return summary

        assert store is not None
        if pending:  # the run directory then holds at most prepared images if the model cannot load
            await load_model(backend, config.model, show_progress=config.show_progress)
        store.put_samples(samples, image_sha256=_sample_image_sha(samples, book))
        update_manifest(run_dir, "package", package_info())
        if dataset:
            update_manifest(run_dir, "dataset", {"files": dataset, "samples": len(samples)})
        generation_section = _generation_section(run_dir, config, bound, status="running")
        update_manifest(run_dir, "generation", generation_section)
        _store_image_failures(store, image_failures, config.model, statuses, config.retry_errors, summary)

        try:
            await _send(pending, store, backend, config, book, summary)
        except BaseException:
            summary.interrupted = True
            raise
        finally:
            book.release()
            _finish(store, run_dir, config, generation_section, planned, image_failures, summary, started)
        return summary
    finally:
        if store is not None:
            store.close()


async def load_model(backend: ModelBackend, label: str, *, show_progress: bool) -> None:
    """Loads an in-process model (hf, vLLM offline) now, with a spinner naming `label` on stderr.

    Commands call it once they know there is something to send, before storing anything and outside
    any request's timeout: a model that cannot load raises `ConfigError` and ends the command with its
    message, rather than failing every request one by one as if each answer had gone wrong. Backends
    that load nothing (HTTP APIs) return at once.
    """
    if not isinstance(backend, LoadsOnFirstUse) or not show_progress:
        await load_backend(backend)
        return
    with Console(file=sys.stderr).status(f"loading {label} ..."):
        await backend.load()


def _needs_sending(status: str | None, retry_errors: bool) -> bool:
    return status is None or (status == "error" and retry_errors)


def _plan(
    samples: Sequence[Sample], config: GenerationConfig, identity: dict[str, Any], book: _ImageBook
) -> tuple[list[_Planned], list[tuple[str, Sample, int, str]]]:
    """Every (sample, round) request with its key; samples whose image failed become (key, sample, round, reason)."""
    options = config.image_options.identity()
    planned: list[_Planned] = []
    failures: list[tuple[str, Sample, int, str]] = []
    for sample in samples:
        # The sample id is part of the key: distinct items can share a query and an image (casa
        # Japan_7 and Japan_9 do), and each still needs its own stored answers.
        extra = {"image_options": options, "sample_id": sample.id}
        image = book.for_key(sample)
        if image is None:
            reason = book.failures[book.source_key(sample)]
            text_only = GenerationRequest(
                messages=(Message(role="user", text=sample.prompt_text),), params=config.params
            )
            for round_ in range(1, config.rounds + 1):
                key = request_key(
                    identity, text_only, round=round_, extra={**extra, "image_url": sample.image.url}
                )
                failures.append((key, sample, round_, reason))
            continue
        request = build_request(sample, image, config.params)
        for round_ in range(1, config.rounds + 1):
            planned.append(
                _Planned(request_key(identity, request, round=round_, extra=extra), sample, round_, request)
            )
    return planned, failures


def _sample_image_sha(samples: Sequence[Sample], book: _ImageBook) -> dict[str, str]:
    shas: dict[str, str] = {}
    for sample in samples:
        image = book.for_key(sample)
        if image is not None:
            shas[sample.id] = image.sha256
    return shas


def _store_image_failures(
    store: RunStore,
    failures: list[tuple[str, Sample, int, str]],
    model: str,
    statuses: Mapping[str, str],
    retry_errors: bool,
    summary: GenerationSummary,
) -> None:
    for key, sample, round_, reason in failures:
        if not _needs_sending(statuses.get(key), retry_errors):
            summary.skipped_cached += 1
            continue
        store.put_generation(
            GenerationRecord(
                key=key,
                sample_id=sample.id,
                round=round_,
                model=model,
                status="error",
                error=f"image could not be loaded: {reason}",
                error_kind=IMAGE_ERROR_KIND,
                attempts=0,
            )
        )
        summary.errors[IMAGE_ERROR_KIND] += 1


async def _send(
    pending: list[_Planned],
    store: RunStore,
    backend: ModelBackend,
    config: GenerationConfig,
    book: _ImageBook,
    summary: GenerationSummary,
) -> None:
    jobs = []
    for item in pending:
        image = book.loaded(item.sample)
        if image is None:  # the file vanished or broke since the key was computed from the memo
            reason = book.failures[book.source_key(item.sample)]
            _store_error(
                store, item, config.model, BackendError("backend", reason), 0, summary, kind=IMAGE_ERROR_KIND
            )
            continue
        request = build_request(item.sample, image, config.params)
        jobs.append(_job(item, request, store, backend, config.model, summary))
    summary.sent = len(jobs)
    if not jobs:
        return
    run = await run_jobs(
        jobs,
        max_connections=config.backend.max_connections,
        policy=config.retry,
        label=f"generate {config.model}",
        show_progress=config.show_progress,
    )
    summary.add_run(run)


def _store_error(
    store: RunStore,
    item: _Planned,
    model: str,
    error: BackendError,
    attempts: int,
    summary: GenerationSummary,
    *,
    kind: str | None = None,
) -> None:
    kind = kind or error.kind
    store.put_generation(item.record(model, "error", attempts, error=str(error), error_kind=kind))
    summary.errors[kind] += 1


def _job(
    item: _Planned,
    request: GenerationRequest,
    store: RunStore,
    backend: ModelBackend,
    model: str,
    summary: GenerationSummary,
) -> Job:
    async def job(context: JobContext) -> str:
        try:
            result, attempts = await context.call(backend, request)
        except RequestFailed as failed:
            _store_error(store, item, model, failed.error, failed.attempts, summary)
            return "error"
        store.put_generation(
            item.record(
                model,
                "ok",
                attempts,
                response=result.text,
                finish_reason=result.finish_reason,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                latency_s=result.latency_s,
            )
        )
        summary.ok += 1
        summary.prompt_tokens += result.prompt_tokens or 0
        summary.completion_tokens += result.completion_tokens or 0
        return "ok"

    return job


def _generation_section(
    run_dir: Path, config: GenerationConfig, bound: dict[str, Any], *, status: str
) -> dict[str, Any]:
    previous = read_manifest(run_dir).get("generation") or {}
    return {
        "model": config.model,
        **bound,
        "base_url": public_url(config.backend.base_url),
        "adapter": str(config.backend.adapter) if config.backend.adapter is not None else None,
        "rounds": max(config.rounds, int(previous.get("rounds", 0))),
        "started_at": previous.get("started_at", utc_now()),
        "last_started_at": utc_now(),
        "status": status,
    }


def _finish(
    store: RunStore,
    run_dir: Path,
    config: GenerationConfig,
    section: dict[str, Any],
    planned: list[_Planned],
    image_failures: list[tuple[str, Sample, int, str]],
    summary: GenerationSummary,
    started: float,
) -> None:
    """Count what the run holds for this command's keys and record it, with token usage, in the manifest."""
    statuses = store.generation_statuses()
    keys = [p.key for p in planned] + [f[0] for f in image_failures]
    counts = Counter(statuses.get(key, "missing") for key in keys)
    summary.run_ok = counts.get("ok", 0)
    summary.run_errors = counts.get("error", 0)
    summary.wall_s = time.monotonic() - started
    prompt_tokens, completion_tokens = store.token_usage()
    complete = not summary.interrupted and counts.get("missing", 0) == 0
    update_manifest(
        run_dir,
        "generation",
        {
            **section,
            "finished_at": utc_now(),
            "status": "complete" if complete else ("interrupted" if summary.interrupted else "incomplete"),
            "requests": len(keys),
            "stored": {
                "ok": summary.run_ok,
                "error": summary.run_errors,
                "missing": counts.get("missing", 0),
            },
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        },
    )
