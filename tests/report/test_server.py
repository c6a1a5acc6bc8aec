"""`crosseval view`: the live report server, in process and as a real command on a free port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from crosseval.engine.store import GenerationRecord, RunStore
from crosseval.report.model import Report
from crosseval.report.server import ReportServer, live_report, run_version
from crosseval.report.summary import build_report
from tests.report.test_html import (
    MODEL_A,
    embedded_json,
    fixture_runs,  # noqa: F401  (a fixture used by the tests below)
    load_fixture_samples,
)

VIEW_COMMAND = """
import typer
from crosseval.cli import view_cmd

app = typer.Typer()


@app.callback()
def main() -> None:
    pass


view_cmd.register(app)
app()
"""


def _add_generation(run_dir: Path, sample_id: str, response: str) -> None:
    with RunStore.open_for_writing(run_dir, command="test") as store:
        store.put_generation(
            GenerationRecord(f"late|{sample_id}", sample_id, 9, MODEL_A, "ok", response=response)
        )


def test_page_and_version_follow_the_store(fixture_runs: Any) -> None:  # noqa: F811
    run_dirs, samples, _ = fixture_runs
    builds: list[Sequence[Path]] = []

    def counting_builder(dirs: Sequence[Path], judge_config: str | None) -> Report:
        builds.append(dirs)
        return build_report(dirs, judge_config=judge_config, bootstrap_reps=50)

    with (
        ReportServer(run_dirs, report_builder=counting_builder) as server,
        httpx.Client(timeout=30) as client,
    ):
        assert server.url.startswith("http://127.0.0.1:")
        page = client.get(server.url)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        config = embedded_json(page.text, "crosseval-config")
        first = client.get(server.url + "version").json()["version"]
        assert config == {"live": True, "version": first, "poll_ms": 2000}
        assert client.get(server.url).text == page.text and len(builds) == 1, (
            "unchanged runs are not re-rendered"
        )

        _add_generation(run_dirs[0], samples[0].id, "An answer written while the report was open.")
        second = client.get(server.url + "version").json()["version"]
        assert second != first
        fresh = client.get(server.url)
        assert embedded_json(fresh.text, "crosseval-config")["version"] == second
        rounds = embedded_json(fresh.text, "crosseval-data")["samples"][0]["results"]["m0"]
        assert rounds[-1] == {
            "round": 9,
            "status": "ok",
            "response": "An answer written while the report was open.",
            "verdicts": {},
        }
        assert len(builds) == 2
        assert client.get(server.url + "version").json()["version"] == second, "reading does not change it"
        assert client.get(server.url + "nothing-here").status_code == 404


def test_a_run_not_judged_yet_is_shown_with_a_notice(cross_sample: Path, tmp_path: Path) -> None:
    samples = load_fixture_samples(cross_sample)[:5]
    run_dir = tmp_path / "in-progress"
    with RunStore.open_for_writing(run_dir, command="test") as store:
        store.put_samples(samples)
    _add_generation(run_dir, samples[1].id, "First answer.")
    report = live_report([run_dir], None)
    assert report.runs == () and "no judge verdicts" in report.notices[0]
    with ReportServer([run_dir]) as server:
        page = httpx.get(server.url, timeout=30)
    assert page.status_code == 200
    assert "Not scored yet: " in page.text and "no judge verdicts" in page.text
    data = embedded_json(page.text, "crosseval-data")
    assert [s["id"] for s in data["samples"]] == [s.id for s in samples]
    assert data["samples"][1]["results"]["m0"][0]["response"] == "First answer."


def test_version_covers_the_write_ahead_log_and_the_manifest(fixture_runs: Any) -> None:  # noqa: F811
    run_dirs, samples, _ = fixture_runs
    before = run_version(run_dirs)
    assert run_version(run_dirs) == before
    (run_dirs[1] / "manifest.json").write_text('{"generation": {"model": "renamed"}}\n', encoding="utf-8")
    after_manifest = run_version(run_dirs)
    assert after_manifest != before
    store = RunStore.open_for_writing(
        run_dirs[1], command="test"
    )  # kept open: the write stays in the log, not the main file
    try:
        store.put_generation(GenerationRecord("wal-only", samples[0].id, 7, MODEL_A, "ok", response="x"))
        assert run_version(run_dirs) != after_manifest
    finally:
        store.close()


def _raw_get(port: int, host_header: str | None, path: str = "/version") -> tuple[int, bytes]:
    """A GET sent byte by byte, so the Host header is exactly what a rebinding page's browser would send."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        host_line = "" if host_header is None else f"Host: {host_header}\r\n"
        connection.sendall(f"GET {path} HTTP/1.1\r\n{host_line}Connection: close\r\n\r\n".encode())
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_only_requests_for_the_bound_host_are_answered(fixture_runs: Any) -> None:  # noqa: F811
    run_dirs, _, report = fixture_runs
    with ReportServer(run_dirs, report_builder=lambda dirs, config: report) as server:
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
            status, body = _raw_get(port, host)
            assert status == 200 and b'"version"' in body, host
        assert _raw_get(port, f"localhost:{port}", "/")[0] == 200
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", "127.0.0.1", "", None):
            for path in ("/", "/version"):
                status, body = _raw_get(port, host, path)
                assert (status, body) == (400, b"unexpected Host header"), (host, path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[str], timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"view exited early with {process.returncode}: {process.communicate()}")
        try:
            return httpx.get(url, timeout=30)
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"nothing answered at {url}")


def test_view_command_serves_and_refreshes(fixture_runs: Any) -> None:  # noqa: F811
    run_dirs, samples, _ = fixture_runs
    port = _free_port()
    command = [sys.executable, "-c", VIEW_COMMAND, "view", *map(str, run_dirs), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}/"
        page = _wait_for(base, process)
        assert page.status_code == 200 and MODEL_A in page.text
        first = httpx.get(base + "version", timeout=10).json()["version"]
        _add_generation(run_dirs[0], samples[2].id, "Late answer.")
        assert httpx.get(base + "version", timeout=10).json()["version"] != first
        assert "Late answer." in httpx.get(base, timeout=30).text
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    assert f"at http://127.0.0.1:{port}/" in out


def test_view_command_rejects_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", VIEW_COMMAND, "view", str(tmp_path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{tmp_path}: no run.sqlite here" in result.stderr
    assert not (tmp_path / "run.sqlite").exists()
