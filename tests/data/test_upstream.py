from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from crosseval.data.errors import DataError
from crosseval.data.loaders import load_benchmark
from crosseval.data.upstream import UPSTREAM_FILES, ensure_upstream, upstream_dir
from tests.data.conftest import StaticRoute, StaticServer


@pytest.fixture
def release(
    static_server: StaticServer, cross_sample: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, bytes]:
    """The shared CROSS sample served as the upstream release under `/repo`, which the env var points at."""
    bodies: dict[str, bytes] = {}
    for rel in UPSTREAM_FILES:
        subset, setting = rel.split("/")[1:]
        body = (cross_sample / subset / setting).read_bytes()
        bodies[rel] = body
        static_server.routes[f"/repo/{rel}"] = StaticRoute(body, content_type="text/plain; charset=utf-8")
    monkeypatch.setenv("CROSSEVAL_UPSTREAM_BASE_URL", f"{static_server.base_url}/repo")
    return bodies


def test_downloads_the_four_files_once_with_checksums(
    static_server: StaticServer, release: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "CROSSEVAL_UPSTREAM_BASE_URL", f"{static_server.base_url}/repo/"
    )  # a trailing slash too
    bodies = release
    folder = ensure_upstream()
    assert folder == upstream_dir(f"{static_server.base_url}/repo")
    for rel, body in bodies.items():
        assert (folder / rel).read_bytes() == body
        recorded = (folder / f"{rel}.sha256").read_text().split()[0]
        assert recorded == hashlib.sha256(body).hexdigest()
    assert ensure_upstream() == folder
    assert all(count == 1 for count in static_server.hits.values())
    assert len(static_server.hits) == 4


def test_load_benchmark_without_paths_reads_the_release(
    static_server: StaticServer, release: dict[str, bytes]
) -> None:
    benchmark = load_benchmark()
    assert len(benchmark) == 67
    assert benchmark.images_root is None
    assert all(
        Path(f.path).is_relative_to(Path(str(upstream_dir(f"{static_server.base_url}/repo"))))
        for f in benchmark.files
    )


def test_a_corrupted_cache_file_is_fetched_again(
    static_server: StaticServer, release: dict[str, bytes]
) -> None:
    bodies = release
    folder = ensure_upstream()
    (folder / UPSTREAM_FILES[0]).write_text("[]")
    ensure_upstream()
    assert (folder / UPSTREAM_FILES[0]).read_bytes() == bodies[UPSTREAM_FILES[0]]
    assert static_server.hits[f"/repo/{UPSTREAM_FILES[0]}"] == 2


def test_http_error_is_a_data_error_and_leaves_no_file(static_server: StaticServer, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="HTTP 404"):
        ensure_upstream(base_url=f"{static_server.base_url}/missing", root=tmp_path)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_an_html_page_is_refused(static_server: StaticServer, tmp_path: Path) -> None:
    for rel in UPSTREAM_FILES:
        static_server.routes[f"/r/{rel}"] = StaticRoute(
            b"<html>rate limited</html>", content_type="text/html"
        )
    with pytest.raises(DataError, match="not valid JSON"):
        ensure_upstream(base_url=f"{static_server.base_url}/r", root=tmp_path)
    assert not any(p.is_file() for p in tmp_path.rglob("*.json"))


def test_a_slow_server_times_out(static_server: StaticServer, tmp_path: Path) -> None:
    for rel in UPSTREAM_FILES:
        static_server.routes[f"/slow/{rel}"] = StaticRoute(json.dumps([]).encode(), delay_s=1.0)
    with pytest.raises(DataError, match="timed out"):
        ensure_upstream(base_url=f"{static_server.base_url}/slow", root=tmp_path, timeout_s=0.2)
