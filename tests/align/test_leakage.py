from __future__ import annotations

from pathlib import Path

import pytest

from crosseval.align.leakage import LeakageGuard, local_image_sha256, normalize_text
from crosseval.data.loaders import load_benchmark
from crosseval.data.records import Sample


@pytest.fixture
def samples(cross_sample: Path) -> list[Sample]:
    return load_benchmark([cross_sample]).samples


def test_normalize_text() -> None:
    assert normalize_text("  Don't  GIVE a Clock!\n") == "don t give a clock"


def test_exact_norm_match_after_normalisation(samples: list[Sample]) -> None:
    guard = LeakageGuard.from_samples(samples)
    sample = samples[0]
    hit = guard.check({"norm": "  " + sample.norm.upper() + " !"})
    assert hit is not None
    assert (hit.field, hit.match) == ("norm", "exact")


def test_near_duplicate_query_is_caught(samples: list[Sample]) -> None:
    guard = LeakageGuard.from_samples(samples)
    words = samples[5].english_query.split()
    paraphrase = " ".join(words[:-2])
    hit = guard.check_text("query", paraphrase)
    assert hit is not None and hit.match == "near" and hit.similarity >= 0.8


def test_embedded_norm_is_caught(samples: list[Sample]) -> None:
    guard = LeakageGuard.from_samples(samples)
    text = f"My friend told me something I keep thinking about. {samples[0].norm} What do you think?"
    hit = guard.check_text("scene", text)
    assert hit is not None and hit.match in {"contains", "near"}


def test_translated_query_is_indexed(samples: list[Sample]) -> None:
    guard = LeakageGuard.from_samples(samples)
    multilingual = next(s for s in samples if s.setting == "multilingual")
    hit = guard.check_text("query", multilingual.prompt_text)
    assert hit is not None and hit.match == "exact"


def test_image_by_sha256_and_url(samples: list[Sample], tmp_path: Path) -> None:
    image = tmp_path / "x.jpg"
    image.write_bytes(b"image bytes")
    local = samples[0].model_copy(
        update={"image": samples[0].image.model_copy(update={"local_path": str(image)})}
    )
    hashes = local_image_sha256([local])
    guard = LeakageGuard.from_samples([local], image_sha256=hashes)
    hit = guard.check({}, [(hashes[local.id], None)])
    assert hit is not None and hit.match == "sha256" and hit.cross_id == local.id
    hit = guard.check({}, [(None, samples[0].image.url)])
    assert hit is not None and hit.match == "url"


def test_unrelated_text_passes(samples: list[Sample], cross_sample: Path) -> None:
    guard = LeakageGuard.from_samples(samples)
    assert guard.check_text("query", "Which god's statue is shown on the left?") is None
    assert guard.check_text("query", "slippers") is None
    text = (cross_sample / "safety_sft" / "safety_sft_gpt4o_exclusive.jsonl").read_text(encoding="utf-8")
    assert guard.check_text("query", text[:400]) is None
