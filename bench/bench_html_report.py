"""How big and how fast is the HTML report for the full benchmark?

Builds synthetic runs the size of CROSS (1,284 samples over 321 base items and images, 3 rounds,
four verdicts per response, answers of about 1,500 characters and reasons of about 400), one run per
model, then prints: the time to build the report and to render the page, the file size (and
how much of it is thumbnails), and, when Chromium and Selenium are present, how long the page takes
to become interactive and to apply a filter in headless Chromium.

    .venv/bin/python bench/bench_html_report.py [--models 3] [--out /tmp/crosseval-bench]
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from crosseval.data.records import Sample
from crosseval.report.html import write_html_report
from crosseval.report.summary import build_report

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.helpers.fake_run import FakeJudge, fake_thumbnail_image, make_sample, write_fake_run  # noqa: E402

COUNTRIES = ["Japan", "Iran", "India", "China", "Egypt", "Mexico", "Nigeria", "Thailand"]
"""Their multilingual items are asked in `tests.helpers.fake_run.TRANSLATION_OF[country]`."""
_VOCAB_RNG = random.Random(1)
VOCAB = [
    "".join(_VOCAB_RNG.choices("etaoinshrdlucmfwypvbgkqjxz", k=_VOCAB_RNG.randint(2, 10)))
    for _ in range(5000)
]
ZIPF = [1 / (rank + 1) for rank in range(len(VOCAB))]


def _text(rng: random.Random, chars: int) -> str:
    """Pseudo-prose: a Zipf-distributed vocabulary, so it compresses about as well as real answers."""
    words = rng.choices(VOCAB, weights=ZIPF, k=chars // 6 + 1)
    return " ".join(words)[:chars]


def _photo_like_jpeg(seed: int, side: int = 256) -> bytes:
    """A smooth gradient with mild noise: compresses like a photo thumbnail, not like flat colour."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side] / side
    base = np.stack([x * 200 + 30, y * 180 + 40, (x + y) * 90 + 50], axis=-1)
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=80)
    return out.getvalue()


def benchmark_samples(rng: random.Random) -> list[Sample]:
    samples: list[Sample] = []
    bases = [(("casa" if i < 276 else "safeworld"), COUNTRIES[i % len(COUNTRIES)], i) for i in range(321)]
    for subset, country, i in bases:
        index = f"{country}_{i}"
        norm, query = _text(rng, 250), _text(rng, 300)
        for setting, variants in (("english", (1, 2, 3)), ("multilingual", (1,))):
            for variant in variants:
                samples.append(
                    make_sample(
                        subset,  # type: ignore[arg-type]
                        setting,  # type: ignore[arg-type]
                        index,
                        variant=variant,
                        prompt_text=query if setting == "english" else "翻訳 " + query,
                        english_query=query,
                        norm=norm,
                        image_url=f"https://example.invalid/{i}.jpg",
                        item="item",
                        source_file="synthetic",
                        position=i,
                        raw={},
                    )
                )
    return samples


def write_run(
    run_dir: Path, samples: list[Sample], model: str, rng: random.Random, images: dict[str, bytes]
) -> None:
    write_fake_run(
        run_dir,
        samples,
        lambda sample, round_, dimension: rng.randint(0, 1),
        model=model,
        response=lambda sample, round_: _text(rng, 1500),
        judge=FakeJudge("bench", "judge"),
        image=lambda sample: fake_thumbnail_image(sample, images[sample.image.url]),
        tokens=None,
        judge_tokens=None,
        verdict_fields=lambda sample, round_, dimension: {"reason": _text(rng, 400)},
    )


def browser_timings(path: Path) -> tuple[float, float] | None:
    """Seconds until the page is interactive, and to apply a country filter; None without Chromium."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        return None
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select, WebDriverWait
    except ImportError:
        return None
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))
    try:
        start = time.perf_counter()
        driver.get(path.as_uri())
        WebDriverWait(driver, 120, 0.02).until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready")
        )
        ready = time.perf_counter() - start
        count = driver.find_element(By.ID, "result-count")
        before = count.get_attribute("data-visible")
        start = time.perf_counter()
        Select(driver.find_element(By.ID, "f-country")).select_by_value("Japan")
        WebDriverWait(driver, 60, 0.005).until(lambda d: count.get_attribute("data-visible") != before)
        return ready, time.perf_counter() - start
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/crosseval-bench-html"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    rng = random.Random(0)
    samples = benchmark_samples(rng)
    images = {
        s.image.url: _photo_like_jpeg(i) for i, s in enumerate({s.image.url: s for s in samples}.values())
    }
    run_dirs = [args.out / f"run-{m}" for m in range(args.models)]
    start = time.perf_counter()
    for m, run_dir in enumerate(run_dirs):
        write_run(run_dir, samples, f"provider/model-{m}", rng, images)
    print(
        f"wrote {args.models} runs x {len(samples)} samples x 3 rounds in {time.perf_counter() - start:.1f} s"
    )

    start = time.perf_counter()
    report = build_report(run_dirs)
    print(f"build_report: {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    out = write_html_report(run_dirs, args.out / "report.html", report=report)
    print(f"write_html_report: {time.perf_counter() - start:.1f} s")
    thumbs = sum(len(b) for b in images.values()) * 4 / 3
    size = out.stat().st_size
    print(
        f"file: {size / 1e6:.1f} MB ({len(images)} thumbnails, about {thumbs / 1e6:.1f} MB of it as base64)"
    )
    timings = browser_timings(out)
    if timings is None:
        print("browser: skipped (no chromium/chromedriver or selenium)")
    else:
        print(
            f"headless Chromium: interactive after {timings[0]:.2f} s; a country filter applies in {timings[1] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
