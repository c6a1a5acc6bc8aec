from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from crosseval.data.images import ImageResolver, clear_image_memo
from crosseval.data.loaders import Benchmark, load_benchmark
from crosseval.engine.generation import (
    GenerationConfig,
    GenerationConfigError,
    GenerationSummary,
    build_request,
    image_tokens_estimate,
    public_url,
    run_generation,
)
from crosseval.engine.manifest import read_manifest
from crosseval.engine.retry import RetryPolicy
from crosseval.engine.store import RunStore
from crosseval.models.backend_config import BackendConfig
from crosseval.models.errors import ConfigError
from crosseval.models.types import (
    BackendError,
    GenerationParams,
    GenerationRequest,
    GenerationResult,
    ModelBackend,
)
from tests.engine.fakes import LoadingBackend, ScriptedBackend, always, ok
from tests.engine.sample_images import write_sample_images

FAST = RetryPolicy(max_attempts=2, base_delay_s=0.001, max_delay_s=0.002, attempt_timeout_s=1.0)


@pytest.fixture
def sample_set(cross_sample: Path, tmp_path: Path) -> Benchmark:
    """The real casa/english and safeworld/multilingual records, with test-made images."""
    files = [cross_sample / "casa" / "english.json", cross_sample / "safeworld" / "multilingual.json"]
    images = tmp_path / "images"
    loaded = load_benchmark(files, images_root=images)
    write_sample_images(loaded.samples, images)
    clear_image_memo()
    return loaded


def config(**changes: Any) -> GenerationConfig:
    """The test generation config; backend settings (`max_connections`, ...) go to its `BackendConfig`."""
    backend_fields = {f.name for f in fields(BackendConfig)}
    backend = BackendConfig(
        **{"model": "vllm/fake-model", **{k: v for k, v in changes.items() if k in backend_fields}}
    )
    base = GenerationConfig(backend=backend, rounds=2, retry=FAST, show_progress=False)
    return replace(base, **{k: v for k, v in changes.items() if k not in backend_fields})


_open_stores: list[RunStore] = []


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    while _open_stores:
        _open_stores.pop().close()


async def generate(
    sample_set: Benchmark, run_dir: Path, backend: ModelBackend, **changes: object
) -> tuple[GenerationSummary, RunStore]:
    """Run generation with `backend`; returns the summary and the run's store (closed after the test)."""
    summary = await run_generation(
        sample_set.samples,
        run_dir,
        config(**changes),
        images_root=sample_set.images_root,
        dataset_files=sample_set.files,
        backend=backend,
    )
    store = RunStore.open_for_reading(run_dir)
    _open_stores.append(store)
    return summary, store


async def test_every_sample_and_round_is_stored_once_with_its_prompt_and_image(
    sample_set: Benchmark, tmp_path: Path
) -> None:
    backend = ScriptedBackend(lambda request, n: ok(f"answer {n}"))
    summary, store = await generate(sample_set, tmp_path / "run", backend)

    n = len(sample_set.samples)
    assert (summary.requests, summary.sent, summary.ok, summary.skipped_cached) == (2 * n, 2 * n, 2 * n, 0)
    assert (summary.run_ok, summary.run_errors, summary.missing) == (2 * n, 0, 0)
    rows = store.generations()
    assert len(rows) == 2 * n
    assert Counter((r.sample_id, r.round) for r in rows) == {
        (s.id, k): 1 for s in sample_set.samples for k in (1, 2)
    }
    assert {r.response for r in rows} == {f"answer {i}" for i in range(2 * n)}
    texts = Counter(request.messages[0].text for request in backend.calls)
    assert texts == Counter(s.prompt_text for s in sample_set.samples for _ in range(2))
    multilingual = next(s for s in sample_set.samples if s.setting == "multilingual")
    assert multilingual.prompt_text != multilingual.english_query
    assert texts[multilingual.prompt_text] == 2
    message = backend.calls[0].messages[0]
    assert message.role == "user" and len(message.images) == 1 and message.images[0].data

    assert [s.id for s in store.samples()] == [s.id for s in sample_set.samples]
    shas = store.sample_image_sha256()
    assert set(shas) == {s.id for s in sample_set.samples}
    assert all(store.image(sha) is not None and store.image(sha).thumbnail for sha in set(shas.values()))  # type: ignore[union-attr]
    assert (summary.prompt_tokens, summary.completion_tokens) == (10 * 2 * n, 5 * 2 * n)


async def test_manifest_records_dataset_model_params_package_and_usage(
    sample_set: Benchmark, tmp_path: Path
) -> None:
    await generate(
        sample_set, tmp_path / "run", ScriptedBackend(always(ok())), params=GenerationParams(temperature=0.5)
    )

    manifest = read_manifest(tmp_path / "run")
    assert [f["sha256"] for f in manifest["dataset"]["files"]] == [f.sha256 for f in sample_set.files]
    assert manifest["dataset"]["files"][0]["records"] == 25
    generation = manifest["generation"]
    assert generation["identity"] == {"provider": "fake", "model": "fake/model"}
    assert generation["params"]["temperature"] == 0.5
    assert generation["rounds"] == 2
    assert generation["status"] == "complete"
    n = 2 * len(sample_set.samples)
    assert generation["usage"] == {"prompt_tokens": 10 * n, "completion_tokens": 5 * n}
    assert generation["stored"] == {"ok": n, "error": 0, "missing": 0}
    assert manifest["package"]["crosseval"] == "0.1.0"


async def test_rerun_sends_nothing_and_more_rounds_send_only_the_new_ones(
    sample_set: Benchmark, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    await generate(sample_set, run_dir, ScriptedBackend(always(ok())))

    again = ScriptedBackend(always(ok()))
    summary, _ = await generate(sample_set, run_dir, again)
    assert (summary.sent, summary.skipped_cached, len(again.calls)) == (0, summary.requests, 0)

    more = ScriptedBackend(always(ok()))
    summary, store = await generate(sample_set, run_dir, more, rounds=3)
    assert len(more.calls) == summary.sent == len(sample_set.samples)
    assert len(store.generations()) == 3 * len(sample_set.samples)


async def test_failures_are_stored_as_errors_with_kind_and_never_as_responses(
    sample_set: Benchmark, tmp_path: Path
) -> None:
    prompts = sorted({s.prompt_text for s in sample_set.samples})
    failing = {prompts[0]: "content_filter", prompts[1]: "server", prompts[2]: "bad_request"}

    def script(request: GenerationRequest, n: int) -> GenerationResult | BackendError:
        kind = failing.get(request.messages[0].text)
        return BackendError(kind, f"failure {kind}") if kind else ok()  # type: ignore[arg-type]

    summary, store = await generate(sample_set, tmp_path / "run", ScriptedBackend(script), rounds=1)

    expected = Counter(failing[s.prompt_text] for s in sample_set.samples if s.prompt_text in failing)
    errors = store.generations(status="error")
    assert Counter(e.error_kind for e in errors) == expected
    assert all(e.response is None and e.error and e.error_kind in e.error for e in errors)
    assert {e.attempts for e in errors if e.error_kind == "server"} == {FAST.max_attempts}
    assert {e.attempts for e in errors if e.error_kind != "server"} == {1}
    assert summary.errors == expected
    assert summary.ok == len(sample_set.samples) - expected.total()
    assert summary.run_errors == expected.total() and summary.missing == 0


async def test_stored_errors_are_resent_only_with_retry_errors(sample_set: Benchmark, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    failing = ScriptedBackend(lambda request, n: BackendError("bad_request", "no") if n % 4 == 0 else ok())
    first, _ = await generate(sample_set, run_dir, failing, rounds=1)
    failed = first.error_count
    assert failed > 0

    plain = ScriptedBackend(always(ok()))
    summary, _ = await generate(sample_set, run_dir, plain, rounds=1)
    assert len(plain.calls) == 0 and summary.run_errors == failed

    retried = ScriptedBackend(always(ok()))
    summary, store = await generate(sample_set, run_dir, retried, rounds=1, retry_errors=True)
    assert len(retried.calls) == failed
    assert summary.run_ok == len(sample_set.samples) and store.generations(status="error") == []


async def test_each_image_is_loaded_once_and_a_rerun_loads_none(
    sample_set: Benchmark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    original = ImageResolver.load

    def counting(self: ImageResolver, sample: object) -> object:
        loads.append(sample.image.name)  # type: ignore[attr-defined]
        return original(self, sample)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageResolver, "load", counting)
    run_dir = tmp_path / "run"
    await generate(sample_set, run_dir, ScriptedBackend(always(ok())))
    distinct = {(s.subset, s.image.name) for s in sample_set.samples}
    assert len(loads) == len(distinct) < len(sample_set.samples)

    loads.clear()
    summary, _ = await generate(sample_set, run_dir, ScriptedBackend(always(ok())))
    assert loads == [] and summary.sent == 0


async def test_a_changed_image_file_gives_new_keys_for_its_samples_only(
    sample_set: Benchmark, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    await generate(sample_set, run_dir, ScriptedBackend(always(ok())), rounds=1)
    sample = sample_set.samples[0]
    path = sample_set.images_root / sample.subset / sample.image.name  # type: ignore[operator]
    from PIL import Image

    Image.new("RGB", (30, 30), (1, 2, 3)).save(path, format="JPEG")
    clear_image_memo()

    backend = ScriptedBackend(always(ok()))
    summary, _ = await generate(sample_set, run_dir, backend, rounds=1)
    sharing = [
        s for s in sample_set.samples if (s.subset, s.image.name) == (sample.subset, sample.image.name)
    ]
    assert summary.sent == len(sharing) == len(backend.calls)
    assert {c.messages[0].text for c in backend.calls} == {s.prompt_text for s in sharing}


async def test_a_missing_image_is_a_stored_error_and_nothing_is_sent_for_it(
    sample_set: Benchmark, tmp_path: Path
) -> None:
    sample = sample_set.samples[0]
    (sample_set.images_root / sample.subset / sample.image.name).unlink()  # type: ignore[operator]
    sharing = [s for s in sample_set.samples if s.image.name == sample.image.name]
    backend = ScriptedBackend(always(ok()))

    summary, store = await generate(sample_set, tmp_path / "run", backend, rounds=1)

    assert summary.errors == Counter({"image": len(sharing)})
    assert len(backend.calls) == len(sample_set.samples) - len(sharing)
    errors = store.generations(status="error")
    assert {e.sample_id for e in errors} == {s.id for s in sharing}
    assert all("image missing" in (e.error or "") and sample.image.name in (e.error or "") for e in errors)
    assert summary.missing == 0


async def test_a_run_dir_refuses_other_params_model_or_data(sample_set: Benchmark, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    await generate(sample_set, run_dir, ScriptedBackend(always(ok())), rounds=1)

    with pytest.raises(GenerationConfigError, match="params"):
        await generate(
            sample_set, run_dir, ScriptedBackend(always(ok())), params=GenerationParams(max_tokens=9)
        )
    with pytest.raises(GenerationConfigError, match="identity"):
        await generate(sample_set, run_dir, ScriptedBackend(always(ok()), model="other"))
    other_data = Benchmark(
        samples=sample_set.samples,
        files=[replace(sample_set.files[0], sha256="0" * 64)],
        images_root=sample_set.images_root,
    )
    with pytest.raises(GenerationConfigError, match="other data files"):
        await generate(other_data, run_dir, ScriptedBackend(always(ok())))


async def test_a_refused_run_dir_names_only_the_settings_that_differ(
    sample_set: Benchmark, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    await generate(sample_set, run_dir, ScriptedBackend(always(ok())), rounds=1)

    with pytest.raises(GenerationConfigError) as refused:
        await generate(
            sample_set,
            run_dir,
            ScriptedBackend(always(ok())),
            params=GenerationParams(temperature=0.5, seed=3),
        )
    message = str(refused.value)
    assert "other params: seed null in the run, 3 now; temperature null in the run, 0.5 now;" in message
    assert "max_tokens" not in message and "top_p" not in message


async def test_dry_run_estimates_tokens_and_writes_nothing(sample_set: Benchmark, tmp_path: Path) -> None:
    backend = ScriptedBackend(always(ok()))
    summary = await run_generation(
        sample_set.samples,
        tmp_path / "dry",
        config(dry_run=True, params=GenerationParams(max_tokens=100)),
        images_root=sample_set.images_root,
        backend=backend,
    )

    n = len(sample_set.samples)
    assert backend.calls == []
    estimate = summary.estimate
    assert estimate is not None and estimate.requests == 2 * n
    assert estimate.text_tokens == 2 * sum(math.ceil(len(s.prompt_text) / 4) for s in sample_set.samples)
    assert estimate.image_tokens == 2 * n * image_tokens_estimate(64, 48)
    assert estimate.max_completion_tokens == 2 * n * 100


async def test_dry_run_leaves_no_run_dir_behind(sample_set: Benchmark, tmp_path: Path) -> None:
    await run_generation(
        sample_set.samples,
        tmp_path / "dry",
        config(dry_run=True),
        images_root=sample_set.images_root,
        backend=ScriptedBackend(always(ok())),
    )
    assert not (tmp_path / "dry").exists()


def test_image_token_estimate_follows_openai_high_detail_examples() -> None:
    assert image_tokens_estimate(512, 512) == 255
    assert image_tokens_estimate(1024, 1024) == 765
    assert image_tokens_estimate(2048, 4096) == 1105


async def test_a_crashing_job_is_counted_stored_nowhere_and_retried_by_a_rerun(
    sample_set: Benchmark, tmp_path: Path
) -> None:
    def script(request: GenerationRequest, n: int) -> GenerationResult:
        if n == 0:
            raise RuntimeError("backend bug")
        return ok()

    run_dir = tmp_path / "run"
    summary, store = await generate(sample_set, run_dir, ScriptedBackend(script), rounds=1)
    assert summary.crashed == 1 and summary.missing == 1
    assert summary.crash_messages == ["RuntimeError: backend bug"]
    assert len(store.generations()) == len(sample_set.samples) - 1
    assert read_manifest(run_dir)["generation"]["status"] == "incomplete"

    again = ScriptedBackend(always(ok()))
    summary, _ = await generate(sample_set, run_dir, again, rounds=1)
    assert len(again.calls) == 1 and summary.missing == 0


async def test_cancelling_mid_run_keeps_what_arrived_and_marks_the_manifest(
    sample_set: Benchmark, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    backend = ScriptedBackend(lambda request, n: ok() if n < 5 else 30.0)
    task = asyncio.create_task(generate(sample_set, run_dir, backend, rounds=1, max_connections=4))
    while len(backend.calls) < 9:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    with RunStore.open_for_reading(run_dir) as store:
        rows = store.generations()
    assert len(rows) == 5 and all(r.status == "ok" for r in rows)
    manifest = read_manifest(run_dir)
    assert manifest["generation"]["status"] == "interrupted"
    assert manifest["generation"]["stored"]["missing"] == len(sample_set.samples) - 5


def test_public_url_drops_credentials_and_queries() -> None:
    assert public_url("https://user:pw@host.example:8443/v1?key=abc#x") == "https://host.example:8443/v1"
    assert public_url(None) is None


def test_the_prompt_is_the_image_then_the_query(sample_set: Benchmark) -> None:
    sample = sample_set.samples[0]
    image = ImageResolver(sample_set.images_root).load(sample)
    request = build_request(sample, image, GenerationParams(seed=3))
    assert json.dumps([m.role for m in request.messages]) == '["user"]'
    assert request.messages[0].images == (image,)
    assert request.messages[0].text == sample.prompt_text
    assert request.params.seed == 3


# --- in-process models load only when there is something to send ---------------------------------------


async def test_a_model_that_loads_on_first_use_loads_once_before_sending_and_not_on_a_rerun(
    sample_set: Benchmark, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    first = LoadingBackend(always(ok()))
    await generate(sample_set, run_dir, first)
    rerun = LoadingBackend(always(ok()))
    summary, _ = await generate(sample_set, run_dir, rerun)
    dry = LoadingBackend(always(ok()))
    await run_generation(
        sample_set.samples,
        tmp_path / "dry",
        config(dry_run=True),
        images_root=sample_set.images_root,
        backend=dry,
    )

    assert (first.loads, first.loaded_before_first_call) == (1, True)
    assert (rerun.loads, summary.sent, summary.skipped_cached) == (0, 0, summary.requests)
    assert dry.loads == 0 and not dry.calls


async def test_a_model_that_cannot_load_ends_the_command_before_anything_is_stored(
    sample_set: Benchmark, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    backend = LoadingBackend(always(ok()), load_error=ConfigError("'m' has no vision tower"))

    with pytest.raises(ConfigError, match="no vision tower"):
        await generate(sample_set, run_dir, backend)

    assert backend.calls == []
    with RunStore.open_for_reading(run_dir) as store:
        assert store.generations() == [] and store.samples() == []
    assert "generation" not in read_manifest(run_dir)

    healthy = LoadingBackend(always(ok()))
    summary, _ = await generate(sample_set, run_dir, healthy)
    assert summary.run_ok == summary.requests and healthy.loads == 1


async def test_a_rerun_of_a_finished_hf_run_loads_no_weights(
    sample_set: Benchmark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("transformers")
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

    from crosseval.models.hf import HFBackend
    from tests.helpers.tiny_vlm import build_tiny_llava

    model = build_tiny_llava(tmp_path / "tiny")
    samples = Benchmark(
        samples=sample_set.samples[:3], files=sample_set.files, images_root=sample_set.images_root
    )
    greedy = GenerationParams(temperature=0.0, max_tokens=3)
    first = HFBackend(str(model), device="cpu")
    done, _ = await generate(samples, tmp_path / "run", first, model=f"hf/{model}", rounds=1, params=greedy)
    await first.aclose()
    assert first.loaded and done.run_ok == 3

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a rerun of a finished run loaded the model")

    for auto in (AutoConfig, AutoModelForImageTextToText, AutoProcessor):
        monkeypatch.setattr(auto, "from_pretrained", refuse)
    again = HFBackend(str(model), device="cpu")
    summary, _ = await generate(
        samples, tmp_path / "run", again, model=f"hf/{model}", rounds=1, params=greedy
    )
    await again.aclose()

    assert (summary.sent, summary.skipped_cached, summary.run_ok) == (0, 3, 3)
    assert not again.loaded
