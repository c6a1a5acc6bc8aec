from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.openai_server import OpenAIServer

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = Path(os.environ.get("CROSSEVAL_SHARED_SAMPLE", REPO_ROOT.parent / "shared" / "cross-sample"))


@pytest.fixture
def cross_sample() -> Path:
    """The exact upstream records in ../shared/cross-sample (upstream layout under data/ is not used)."""
    if not SHARED_SAMPLE.is_dir():
        pytest.fail(f"missing {SHARED_SAMPLE}: tests need ../shared/cross-sample beside the checkout")
    return SHARED_SAMPLE


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach a real provider or the user's cache."""
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "CROSSEVAL_API_KEY",
        "CROSSEVAL_JUDGE_API_KEY",
        "VLLM_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CROSSEVAL_CACHE_DIR", str(tmp_path / "crosseval-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
