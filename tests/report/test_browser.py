"""The HTML report in a real browser: headless Chromium driven by Selenium.

Skipped only when Chromium is absent and `CI` is unset; in CI these tests must run. Screenshots
land in test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crosseval.engine.store import GenerationRecord, RunStore
from crosseval.report.html import write_html_report
from crosseval.report.server import ReportServer
from tests.report.test_html import (
    INJECTION,
    MODEL_A,
    MODEL_B,
    expected_outcome,
    fixture_runs,  # noqa: F401  (a fixture used by the tests below)
    injection_sample_id,
    is_failed_generation,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _chromium() -> tuple[str, str] | None:
    browser = next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
    )
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        _chromium() is None and not os.environ.get("CI"),
        reason="Chromium and chromedriver are not installed (in CI these tests must run)",
    ),
]

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - selenium is a dev dependency; CI must have it
    if os.environ.get("CI"):
        raise
    pytest.skip("selenium is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    found = _chromium()
    assert found is not None, "CI must provide chromium and chromedriver"
    browser, chromedriver = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    session = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    session.set_page_load_timeout(30)
    try:
        yield session
    finally:
        session.quit()


def _wait(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = 10) -> Any:
    """Poll `condition`; elements that vanish under it (the live page reloading) mean "not yet"."""
    transient = (StaleElementReferenceException, NoSuchElementException)
    return WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=transient).until(condition)


def _open(driver: WebDriver, url: str, *, reset: bool = True) -> None:
    driver.get(url)
    _wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
    if reset:  # filters persist per tab (sessionStorage); each test starts from none
        _click(driver, "#f-reset")


def _click(driver: WebDriver, css: str) -> None:
    """Click like a user, after bringing the element to mid-screen (clear of the sticky header)."""
    element = driver.find_element(By.CSS_SELECTOR, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element)
    element.click()


def _console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def _visible_count(driver: WebDriver) -> int:
    return int(driver.find_element(By.ID, "result-count").get_attribute("data-visible") or "-1")


def _shown_ids(driver: WebDriver) -> list[str]:
    return [
        e.get_attribute("data-sample-id") or ""
        for e in driver.find_elements(By.CSS_SELECTOR, "article.sample")
    ]


def _choose(driver: WebDriver, select_id: str, value: str) -> None:
    Select(driver.find_element(By.ID, select_id)).select_by_value(value)


def _screenshot(driver: WebDriver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(int(height) + 120, 6000))
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path


@pytest.fixture
def report_url(fixture_runs: Any, tmp_path: Path) -> tuple[str, list[Any]]:  # noqa: F811
    run_dirs, samples, report = fixture_runs
    out = write_html_report(run_dirs, tmp_path / "report.html", report=report, compress=True)
    return out.as_uri(), samples


def test_page_renders_without_console_errors_and_filters_change_rows(
    driver: WebDriver, report_url: Any
) -> None:
    url, samples = report_url
    driver.get_log("browser")
    _open(driver, url)
    assert _visible_count(driver) == len(samples)
    assert len(_shown_ids(driver)) == 20, "only one page of samples is in the DOM"

    _choose(driver, "f-country", "Iran")
    iran = [s.id for s in samples if s.country == "Iran"]
    _wait(driver, lambda d: _visible_count(d) == len(iran))
    assert _shown_ids(driver) == iran[:20]

    _choose(driver, "f-setting", "multilingual")
    iran_translated = [s.id for s in samples if s.country == "Iran" and s.setting == "multilingual"]
    _wait(driver, lambda d: _visible_count(d) == len(iran_translated))
    assert _shown_ids(driver) == iran_translated

    _click(driver, "#f-reset")
    _choose(driver, "f-model", "m1")
    _wait(driver, lambda d: _visible_count(d) == 40)

    _click(driver, "#f-reset")
    _choose(driver, "f-outcome", "fail:violation")
    violators = [
        s.id
        for s in samples
        if any(
            not is_failed_generation(s.id, model, r)
            and expected_outcome(s.id, model, r, "violation") == ("ok", 1)
            for model, rounds, subset in ((MODEL_A, 3, samples), (MODEL_B, 2, samples[:40]))
            if s in subset
            for r in range(1, rounds + 1)
        )
    ]
    _wait(driver, lambda d: _visible_count(d) == len(violators))
    assert _shown_ids(driver) == violators[:20]

    _click(driver, "#f-reset")
    driver.find_element(By.ID, "f-search").send_keys("Iran_11")
    _wait(driver, lambda d: _visible_count(d) == 2)
    assert _console_errors(driver) == []


def test_a_sample_shows_verdicts_reasons_and_error_statuses(driver: WebDriver, report_url: Any) -> None:
    url, samples = report_url
    _open(driver, url)
    _choose(driver, "f-model", "m0")
    target = next(
        s
        for s in samples
        if is_failed_generation(s.id, MODEL_A, 1) is False
        and {
            expected_outcome(s.id, MODEL_A, 1, d)[0]
            for d in ("awareness", "education", "violation", "helpfulness")
        }
        - {"ok"}
        and any(is_failed_generation(s.id, MODEL_A, r) for r in (2, 3))
    )
    driver.find_element(By.ID, "f-search").send_keys(target.id)
    _wait(driver, lambda d: target.id in _shown_ids(d))
    _click(driver, f'article.sample[data-sample-id="{target.id}"] .sample-head')
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "article.sample .detail"))

    round_one = driver.find_element(By.CSS_SELECTOR, '.model-result[data-model="m0"] .round[data-round="1"]')
    for dimension in ("awareness", "education", "violation", "helpfulness"):
        status, score = expected_outcome(target.id, MODEL_A, 1, dimension)
        item = round_one.find_element(By.CSS_SELECTOR, f'.verdict[data-dimension="{dimension}"]')
        assert item.get_attribute("data-status") == status
        badge = item.find_element(By.CSS_SELECTOR, ".status").text
        if status == "ok":
            assert badge.startswith("Pass" if score == (0 if dimension == "violation" else 1) else "Fail")
            assert (
                item.find_element(By.CSS_SELECTOR, ".reason").text
                == f"Reason {dimension} r1 for {target.index}."
            )
        else:
            assert (
                badge
                == {"parse_error": "Parse error", "api_error": "API error", "refused": "Judge refused"}[
                    status
                ]
            )
            assert "Pass" not in item.text and "Fail" not in item.text
    failed_round = next(r for r in (2, 3) if is_failed_generation(target.id, MODEL_A, r))
    failed = driver.find_element(
        By.CSS_SELECTOR, f'.model-result[data-model="m0"] .round[data-round="{failed_round}"]'
    )
    assert "Generation failed" in failed.text and "rate_limit 429" in failed.text
    assert failed.find_elements(By.CSS_SELECTOR, ".verdict") == []
    assert target.norm in driver.find_element(By.CSS_SELECTOR, ".detail .norm").text
    _screenshot(driver, "report-sample-detail.png")
    assert _console_errors(driver) == []


def test_model_answers_render_as_text(driver: WebDriver, report_url: Any) -> None:
    url, samples = report_url
    _open(driver, url)
    target = injection_sample_id(samples)
    driver.find_element(By.ID, "f-search").send_keys(target)
    _wait(driver, lambda d: target in _shown_ids(d))
    _click(driver, f'article.sample[data-sample-id="{target}"] .sample-head')
    response = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".round .response"))[0]
    assert response.text == INJECTION
    assert driver.execute_script("return window.__pwned === undefined")
    assert driver.find_elements(By.CSS_SELECTOR, ".response img, .response script") == []


def test_full_page_screenshot(driver: WebDriver, report_url: Any) -> None:
    url, _ = report_url
    _open(driver, url)
    _click(driver, "#f-reset")
    _click(driver, "article.sample .sample-head")
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "article.sample .detail"))
    path = _screenshot(driver, "report-full.png")
    assert path.stat().st_size > 10_000
    assert _console_errors(driver) == []


def test_served_page_reloads_when_the_run_changes(driver: WebDriver, fixture_runs: Any) -> None:  # noqa: F811
    run_dirs, samples, _ = fixture_runs
    with ReportServer(run_dirs, poll_ms=150) as server:
        _open(driver, server.url)
        _choose(driver, "f-model", "m1")
        _wait(driver, lambda d: _visible_count(d) == 40)
        extra = samples[45]
        with RunStore.open_for_writing(run_dirs[1], command="test") as store:
            store.put_generation(
                GenerationRecord(f"late|{extra.id}", extra.id, 1, MODEL_B, "ok", response="A late answer.")
            )
        _wait(driver, lambda d: _visible_count(d) == 41, timeout=15)
        assert (
            Select(driver.find_element(By.ID, "f-model")).first_selected_option.get_attribute("value") == "m1"
        )
        driver.execute_script("window.__stayed = true")
        time.sleep(0.6)
        assert driver.execute_script("return window.__stayed === true"), (
            "the page reloads once, not in a loop"
        )
        assert _console_errors(driver) == []
